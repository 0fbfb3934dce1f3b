/**
 * `residuum serve --config line.yaml`: one file for the line's settings, validated before anything
 * starts, every error naming its key (`mqtt.url: not a valid URL ...`). Keys are the `serve` flags
 * in camelCase, plus the destinations:
 *
 *   line: press-3                 # line id (default: the host name)
 *   station: st-1
 *   port: 8080
 *   dataDir: /var/lib/residuum
 *   mqtt: { url: mqtts://broker:8883, username: line3, password: ..., ca: /etc/residuum/ca.pem }
 *   webhook: { url: https://mes/hooks/residuum, secret: ..., events: [anomaly, model] }
 *   central: { url: postgres://residuum@db/plant }
 *   outbox: { diskBudgetMb: 512 }
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { WEBHOOK_EVENT_KINDS, type MqttConfig, type WebhookConfig, type WebhookEventKind } from './destinations/index.js';

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** The validated file: serve flags (camelCase) and destinations. Absent keys stay undefined. */
export interface LineConfig {
  line?: string;
  model?: string;
  port?: number;
  host?: string;
  dataDir?: string;
  watch?: string | false;
  quietMs?: number;
  token?: string;
  ep?: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  batch?: number;
  queue?: number;
  deadlineMs?: number;
  maxBodyMb?: number;
  maxPixels?: number;
  heatmaps?: 'all' | 'anomalous' | 'none';
  retentionDays?: number;
  diskBudgetMb?: number;
  station?: string;
  camera?: string;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug';
  mqtt?: MqttConfig;
  webhook?: WebhookConfig;
  central?: { url: string };
  outbox?: { diskBudgetMb?: number };
}

type Check = (value: unknown, key: string) => unknown;

const text: Check = (value, key) => {
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(key, `must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
};
const number =
  (min: number, integer: boolean): Check =>
  (value, key) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      throw new ConfigError(key, `must be ${integer ? 'a whole number' : 'a number'} >= ${min}, got ${JSON.stringify(value)}`);
    }
    return value;
  };
const oneOf =
  (choices: readonly string[]): Check =>
  (value, key) => {
    if (typeof value !== 'string' || !choices.includes(value)) throw new ConfigError(key, `must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
    return value;
  };
const boolean: Check = (value, key) => {
  if (typeof value !== 'boolean') throw new ConfigError(key, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
};
/** A URL with one of the given schemes. */
export const url =
  (schemes: readonly string[]): Check =>
  (value, key) => {
    text(value, key);
    let parsed: URL;
    try {
      parsed = new URL(value as string);
    } catch {
      throw new ConfigError(key, `not a valid URL: ${JSON.stringify(value)} (expected ${schemes.map((s) => `${s}//host...`).join(' or ')})`);
    }
    if (!schemes.includes(parsed.protocol)) throw new ConfigError(key, `the scheme must be ${schemes.join(' or ')}, got ${JSON.stringify(parsed.protocol)}`);
    if (!parsed.hostname) throw new ConfigError(key, `has no host: ${JSON.stringify(value)}`);
    return value;
  };

/** Checks a URL given outside the file (a flag): throws ConfigError naming `key`. */
export function checkUrl(value: string, key: string, schemes: readonly string[]): string {
  return url(schemes)(value, key) as string;
}

export const MQTT_SCHEMES = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:'];
export const WEBHOOK_SCHEMES = ['http:', 'https:'];
export const POSTGRES_SCHEMES = ['postgres:', 'postgresql:'];

function section(shape: Record<string, Check>, required: readonly string[] = []): Check {
  return (value, key) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(key, `must be a mapping of keys, got ${JSON.stringify(value)}`);
    const out: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(value)) {
      const itemKey = key ? `${key}.${name}` : name;
      const check = shape[name];
      if (!check) throw new ConfigError(itemKey, `unknown key (known${key ? ` under ${key}` : ''}: ${Object.keys(shape).join(', ')})`);
      if (item === null || item === undefined) continue;
      out[name] = check(item, itemKey);
    }
    for (const name of required) if (out[name] === undefined) throw new ConfigError(key ? `${key}.${name}` : name, 'is required');
    return out;
  };
}

const events: Check = (value, key) => {
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError(key, `must be a list of ${WEBHOOK_EVENT_KINDS.join(', ')}`);
  return value.map((item, index) => oneOf(WEBHOOK_EVENT_KINDS)(item, `${key}[${index}]`)) as WebhookEventKind[];
};

const LINE_CONFIG = section({
  line: text,
  model: text,
  port: number(0, true),
  host: text,
  dataDir: text,
  watch: (value, key) => (value === false ? false : text(value, key)),
  quietMs: number(0, true),
  token: text,
  ep: oneOf(['auto', 'cpu', 'cuda', 'webgpu']),
  batch: number(1, true),
  queue: number(1, true),
  deadlineMs: number(1, true),
  maxBodyMb: number(0.001, false),
  maxPixels: number(1, true),
  heatmaps: oneOf(['all', 'anomalous', 'none']),
  retentionDays: number(0, false),
  diskBudgetMb: number(0, false),
  station: text,
  camera: text,
  logLevel: oneOf(['fatal', 'error', 'warn', 'info', 'debug']),
  mqtt: section({ url: url(MQTT_SCHEMES), username: text, password: text, ca: text, cert: text, key: text, rejectUnauthorized: boolean, clientId: text }, ['url']),
  webhook: section({ url: url(WEBHOOK_SCHEMES), secret: text, events, timeoutMs: number(1, true) }, ['url']),
  central: section({ url: url(POSTGRES_SCHEMES) }, ['url']),
  outbox: section({ diskBudgetMb: number(0.001, false) }),
});

/** Validates a parsed document (throws ConfigError naming the key). */
export function validateLineConfig(document: unknown): LineConfig {
  if (document === null || document === undefined) return {};
  const config = LINE_CONFIG(document, '') as LineConfig;
  if (config.webhook && !config.webhook.events) config.webhook = { ...config.webhook, events: ['anomaly', 'model'] };
  return config;
}

/** Reads and validates a YAML (or JSON) file. */
export function loadLineConfig(path: string): LineConfig {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('--config', `cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parse(source);
  } catch (error) {
    throw new ConfigError('--config', `${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  try {
    return validateLineConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(error.key, `${error.message.slice(error.key.length + 2)} (in ${path})`);
    throw error;
  }
}
