/**
 * MQTT destination (the `mqtt` package), QoS 1:
 *   residuum/<line>/<station>/results    every result
 *   residuum/<line>/<station>/anomalies  rejected results (verdict anomalous or error)
 *   residuum/<line>/<station>/model      model activations (the line's configured station)
 *   residuum/<line>/<station>/status     retained {"status":"online"|"offline"}; "offline" is the Last Will
 * Payload: payload.ts (schemas/line-event.v1.schema.json).
 *
 * One connection publishes everything in outbox order, so each topic's messages leave in commit
 * order; a batch is confirmed when every PUBACK is in. When the connection drops the batch fails
 * and is sent again from the outbox after reconnecting (duplicates: at most one batch, each
 * carrying its result id). Reconnects back off exponentially up to `maxBackoffMs`.
 */
import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Destination } from './drainer.js';
import type { OutboxEntry } from './outbox.js';
import type { LineEvent } from './payload.js';

export interface MqttConfig {
  url: string;
  username?: string;
  password?: string;
  /** PEM files for TLS (mqtts://): CA, client certificate and key. */
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  clientId?: string;
}

/** The broker refused our credentials: the service must not start (names the config key). */
export class DestinationAuthError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = 'DestinationAuthError';
  }
}

/** Topic levels may not contain / + # (MQTT wildcards and separator). */
export function topicLevel(value: string | null, fallback: string): string {
  const text = (value ?? '').trim() || fallback;
  return text.replace(/[/+#\u0000]/g, '_');
}

export function topicsFor(line: string, station: string, event: LineEvent): string[] {
  const lineLevel = topicLevel(line, 'line');
  if (event.kind === 'model') return [`residuum/${lineLevel}/${topicLevel(station, 'default')}/model`];
  const base = `residuum/${lineLevel}/${topicLevel(event.station, topicLevel(station, 'default'))}`;
  return event.reject ? [`${base}/results`, `${base}/anomalies`] : [`${base}/results`];
}

// MQTT 3.1.1 CONNACK 4 / 5 and MQTT 5 0x86 / 0x87: the broker says no to these credentials.
const AUTH_REJECTIONS = new Set([4, 5, 0x86, 0x87]);

export class MqttDestination implements Destination {
  readonly name = 'mqtt';
  private readonly client: MqttClient;
  private readonly statusTopic: string;
  private backoffMs: number;

  private constructor(
    config: MqttConfig,
    private readonly line: string,
    private readonly station: string,
    private readonly log: Logger,
    private readonly backoff: { minMs: number; maxMs: number },
  ) {
    this.statusTopic = `residuum/${topicLevel(line, 'line')}/${topicLevel(station, 'default')}/status`;
    this.backoffMs = backoff.minMs;
    const options: IClientOptions = {
      clientId: config.clientId ?? `residuum-${topicLevel(line, 'line')}-${topicLevel(station, 'default')}`,
      clean: true,
      username: config.username,
      password: config.password,
      ca: config.ca ? readFileSync(config.ca) : undefined,
      cert: config.cert ? readFileSync(config.cert) : undefined,
      key: config.key ? readFileSync(config.key) : undefined,
      rejectUnauthorized: config.rejectUnauthorized ?? true,
      reconnectPeriod: backoff.minMs,
      connectTimeout: 5000,
      // The outbox is the queue: nothing is buffered in memory while offline.
      queueQoSZero: false,
      will: { topic: this.statusTopic, payload: Buffer.from(JSON.stringify({ status: 'offline', line })), qos: 1, retain: true },
    };
    this.client = connect(config.url, options);
    this.client.on('connect', () => {
      this.backoffMs = backoff.minMs;
      this.client.options.reconnectPeriod = backoff.minMs;
      this.log.info({ url: redact(config.url) }, 'mqtt connected');
      this.client.publish(this.statusTopic, JSON.stringify({ status: 'online', line, since: new Date().toISOString() }), { qos: 1, retain: true });
    });
    this.client.on('reconnect', () => {
      this.backoffMs = Math.min(this.backoffMs * 2, backoff.maxMs);
      this.client.options.reconnectPeriod = this.backoffMs;
    });
    this.client.on('error', (error) => this.log.debug({ err: error.message }, 'mqtt error'));
  }

  /**
   * Connects; waits up to `waitMs` for the first answer. A credentials rejection throws
   * DestinationAuthError; an unreachable broker is not an error (the client keeps retrying).
   */
  static async open(config: MqttConfig, line: string, station: string, log: Logger, backoff: { minMs: number; maxMs: number }, waitMs = 5000): Promise<MqttDestination> {
    const destination = new MqttDestination(config, line, station, log, backoff);
    const outcome = await new Promise<'connected' | 'unreachable' | { code: number }>((resolve) => {
      const timer = setTimeout(() => resolve('unreachable'), waitMs);
      destination.client.once('connect', () => (clearTimeout(timer), resolve('connected')));
      destination.client.on('error', (error: Error & { code?: number | string }) => {
        if (typeof error.code === 'number' && AUTH_REJECTIONS.has(error.code)) (clearTimeout(timer), resolve({ code: error.code }));
      });
    });
    if (typeof outcome === 'object') {
      await destination.client.endAsync(true).catch(() => undefined);
      throw new DestinationAuthError(config.username === undefined ? 'mqtt.url' : 'mqtt.username', `the MQTT broker rejected the credentials (CONNACK ${outcome.code})`);
    }
    if (outcome === 'unreachable') log.warn({ url: redact(config.url) }, 'mqtt broker unreachable at start: results are kept in the outbox until it answers');
    return destination;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  async deliver(entries: readonly OutboxEntry[]): Promise<void> {
    if (!this.client.connected) throw new Error('mqtt: not connected');
    const publishes: Array<Promise<unknown>> = [];
    for (const entry of entries) {
      const payload = JSON.stringify(entry.event);
      for (const topic of topicsFor(this.line, this.station, entry.event)) publishes.push(this.client.publishAsync(topic, payload, { qos: 1 }));
    }
    // A dropped connection leaves PUBACKs pending; give up on the batch instead of waiting for them.
    let onClose: (() => void) | undefined;
    const closed = new Promise<never>((_resolve, reject) => {
      onClose = () => reject(new Error('mqtt: connection lost before every PUBACK'));
      this.client.once('close', onClose);
    });
    try {
      await Promise.race([Promise.all(publishes), closed]);
    } finally {
      if (onClose) this.client.removeListener('close', onClose);
      closed.catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.client.connected) {
      await this.client.publishAsync(this.statusTopic, JSON.stringify({ status: 'offline', line: this.line, since: new Date().toISOString() }), { qos: 1, retain: true }).catch(() => undefined);
    }
    await this.client.endAsync(true).catch(() => undefined);
  }
}

/** The URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(malformed url)';
  }
}
