/**
 * `residuum serve`: maps the command line to @residuum/line-service's options and runs the
 * service until SIGTERM / SIGINT. Everything else lives in apps/line-service.
 */
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { DestinationsConfig, LineConfig } from '@residuum/line-service';
import { MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_ENV } from '@residuum/imaging';
import type { CommandContext } from './context.js';
import { CliError } from '../util/errors.js';
import { ExitCode, type ExitCodeValue } from '../util/exit-codes.js';

interface ServeCliOptions {
  port: number;
  host: string;
  dataDir: string;
  watch?: string | false;
  quietMs: number;
  token?: string;
  ep: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  batch: number;
  queue: number;
  deadlineMs: number;
  maxBodyMb: number;
  maxPixels?: number;
  heatmaps: 'all' | 'anomalous' | 'none';
  retentionDays?: number;
  diskBudgetMb?: number;
  station?: string;
  camera?: string;
  logLevel: string;
  config?: string;
  line?: string;
  mqtt?: string;
  webhook?: string;
  central?: string;
}

/** Keys a config file shares with the flags (the flag wins when both are given). */
const SHARED_KEYS = ['port', 'host', 'dataDir', 'watch', 'quietMs', 'token', 'ep', 'batch', 'queue', 'deadlineMs', 'maxBodyMb', 'maxPixels', 'heatmaps', 'retentionDays', 'diskBudgetMb', 'station', 'camera', 'logLevel', 'line'] as const;

function numberAtLeast(name: string, min: number, integer: boolean) {
  return (value: string): number => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isFinite(parsed) || parsed < min || (integer && !Number.isInteger(parsed))) {
      throw new InvalidArgumentError(`${name} must be ${integer ? 'a whole number' : 'a number'} >= ${min}.`);
    }
    return parsed;
  };
}

/** Adds `serve` to the program (through .command(), so it inherits the program's output and exit settings). */
export function addServeCommand(program: Command, context: () => CommandContext, setExit: (code: ExitCodeValue) => void): void {
  program
    .command('serve')
    .description('run the line service: HTTP inspection, a watch folder, every result kept in SQLite, live events, metrics')
    .argument('[model]', 'the model (.onnx); default: the last active model in --data-dir, else the embedded models/default.onnx')
    .option('--port <n>', 'TCP port (0: any free port)', numberAtLeast('--port', 0, true), 8080)
    .option('--host <h>', 'address to bind (beyond localhost, model changes need --token)', '127.0.0.1')
    .option('--data-dir <dir>', 'results database, result files, model versions', './residuum-line')
    .option('--watch <dir>', 'watch folder (default: <data-dir>/watch)')
    .option('--no-watch', 'no watch folder')
    .option('--quiet-ms <ms>', 'a watched file is read once its size has not changed for this long (0: only rename-into-place)', numberAtLeast('--quiet-ms', 0, true), 500)
    .option('--token <token>', 'bearer token for model changes (or RESIDUUM_LINE_TOKEN)')
    .addOption(new Option('--ep <provider>', 'execution provider: auto tries CUDA, then CPU').choices(['auto', 'cpu', 'cuda', 'webgpu']).default('auto'))
    .option('--batch <n>', 'images per inference batch', numberAtLeast('--batch', 1, true), 8)
    .option('--queue <n>', 'images that may wait; beyond that HTTP answers 503 with Retry-After', numberAtLeast('--queue', 1, true), 256)
    .option('--deadline-ms <ms>', 'per-image deadline; later answers are error verdicts', numberAtLeast('--deadline-ms', 1, true), 5000)
    .option('--max-body-mb <mb>', 'largest accepted request body', numberAtLeast('--max-body-mb', 0.001, false), 32)
    .option('--max-pixels <n>', `largest accepted image (width x height, read from the header before decoding; default: ${MAX_IMAGE_PIXELS_ENV} or ${MAX_IMAGE_PIXELS}, the CLI's limit)`, numberAtLeast('--max-pixels', 1, true))
    .addOption(new Option('--heatmaps <which>', 'results that keep a heatmap file').choices(['all', 'anomalous', 'none']).default('all'))
    .option('--retention-days <d>', 'remove result files (heatmaps, images) older than this', numberAtLeast('--retention-days', 0, false))
    .option('--disk-budget-mb <mb>', 'remove the oldest result files beyond this total', numberAtLeast('--disk-budget-mb', 0, false))
    .option('--station <name>', 'station recorded with watch-folder results')
    .option('--camera <name>', 'camera recorded with watch-folder results')
    .addOption(new Option('--log-level <level>', 'log level (JSON lines on stdout)').choices(['fatal', 'error', 'warn', 'info', 'debug']).default('info'))
    .option('--config <file>', 'line configuration (YAML): these flags in camelCase plus mqtt, webhook, central, outbox; a flag given here wins')
    .option('--line <id>', 'line id in MQTT topics, webhook payloads and the central database (default: the host name)')
    .option('--mqtt <url>', 'publish results to this MQTT broker (mqtt://host:1883, mqtts://...), QoS 1')
    .option('--webhook <url>', 'POST rejected parts and model changes to this URL (signed when the config gives webhook.secret)')
    .option('--central <url>', 'replicate results to this PostgreSQL database (postgres://user:pass@host/db)')
    .addHelpText(
      'after',
      `
Examples:
  $ residuum serve                                   # default model, http://127.0.0.1:8080, ./residuum-line/
  $ residuum serve models/dfr-casting.onnx --port 9000 --data-dir /var/lib/residuum
  $ curl --data-binary @part.png -H 'Content-Type: image/png' 'http://127.0.0.1:8080/v1/inspect?partId=A17'
  $ residuum serve --config /etc/residuum/line.yaml
  $ residuum serve --line press-3 --mqtt mqtt://broker.plant:1883 --central postgres://residuum@db.plant/plant
`,
    )
    .action(async (model: string | undefined, options: ServeCliOptions, command: Command) => {
      setExit(await runServe(model, await withConfigFile(options, command, context()), context()));
    });
}

type ServeSettings = ServeCliOptions & { file?: LineConfig; fileDir?: string };

/** Reads --config (paths in it are relative to the file) under the flags given on the command line. */
async function withConfigFile(options: ServeCliOptions, command: Command, context: CommandContext): Promise<ServeSettings> {
  const { loadLineConfig, ConfigError } = await import('@residuum/line-service');
  if (!options.config) return options;
  const path = resolve(context.io.cwd, options.config);
  let file: LineConfig;
  try {
    file = loadLineConfig(path);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message);
    throw error;
  }
  const fileDir = dirname(path);
  const merged: Record<string, unknown> = { ...options };
  for (const key of SHARED_KEYS) {
    if (command.getOptionValueSource(key) === 'cli' || file[key] === undefined) continue;
    merged[key] = key === 'dataDir' || (key === 'watch' && typeof file.watch === 'string') ? resolve(fileDir, file[key] as string) : file[key];
  }
  return { ...(merged as unknown as ServeCliOptions), file, fileDir };
}

/** Destinations from the file and the --mqtt / --webhook / --central flags (flags win). */
async function destinationsOf(settings: ServeSettings): Promise<DestinationsConfig | undefined> {
  const { checkUrl, ConfigError, MQTT_SCHEMES, WEBHOOK_SCHEMES, POSTGRES_SCHEMES } = await import('@residuum/line-service');
  const file = settings.file ?? {};
  try {
    const mqttUrl = settings.mqtt === undefined ? file.mqtt?.url : checkUrl(settings.mqtt, '--mqtt', MQTT_SCHEMES);
    const webhookUrl = settings.webhook === undefined ? file.webhook?.url : checkUrl(settings.webhook, '--webhook', WEBHOOK_SCHEMES);
    const central = settings.central === undefined ? file.central?.url : checkUrl(settings.central, '--central', POSTGRES_SCHEMES);
    if (!mqttUrl && !webhookUrl && !central) return undefined;
    const inFileDir = (path: string | undefined) => (path === undefined ? undefined : resolve(settings.fileDir ?? '.', path));
    return {
      line: settings.line ?? hostname(),
      station: settings.station ?? 'default',
      mqtt: mqttUrl ? { ...file.mqtt, url: mqttUrl, ca: inFileDir(file.mqtt?.ca), cert: inFileDir(file.mqtt?.cert), key: inFileDir(file.mqtt?.key) } : undefined,
      webhook: webhookUrl ? { events: ['anomaly', 'model'], ...file.webhook, url: webhookUrl } : undefined,
      central,
      outboxBudgetBytes: file.outbox?.diskBudgetMb === undefined ? undefined : Math.round(file.outbox.diskBudgetMb * 1024 * 1024),
    };
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message);
    throw error;
  }
}

async function runServe(model: string | undefined, options: ServeSettings, context: CommandContext): Promise<ExitCodeValue> {
  const { runLineService } = await import('@residuum/line-service');
  const destinations = await destinationsOf(options);
  if (model === undefined && options.file?.model !== undefined) model = resolve(options.fileDir ?? '.', options.file.model);
  // The service drains on SIGINT itself; the CLI's handler must not exit at once.
  context.interruption.handleGracefully();
  try {
    await runLineService({
      model: model === undefined ? undefined : resolve(context.io.cwd, model),
      port: options.port,
      host: options.host,
      dataDir: resolve(context.io.cwd, options.dataDir),
      watchDir: options.watch === false ? false : options.watch === undefined ? undefined : resolve(context.io.cwd, options.watch),
      quietMs: options.quietMs,
      token: options.token ?? process.env.RESIDUUM_LINE_TOKEN,
      provider: options.ep,
      batchSize: options.batch,
      queueCapacity: options.queue,
      deadlineMs: options.deadlineMs,
      maxBodyBytes: Math.round(options.maxBodyMb * 1024 * 1024),
      maxPixels: options.maxPixels,
      heatmaps: options.heatmaps,
      retentionDays: options.retentionDays,
      diskBudgetBytes: options.diskBudgetMb === undefined ? undefined : Math.round(options.diskBudgetMb * 1024 * 1024),
      station: options.station,
      camera: options.camera,
      logger: options.logLevel,
      destinations,
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${options.port} on ${options.host} is in use (--port)`);
    if (code === 'EACCES') throw new CliError(`not allowed to listen on ${options.host}:${options.port} (ports below 1024 need privileges)`);
    if ((error as Error).name === 'ModelRejectedError' || (error as Error).name === 'DestinationAuthError') throw new CliError((error as Error).message);
    throw error;
  }
  return context.interruption.interrupted ? ExitCode.interrupted : ExitCode.ok;
}
