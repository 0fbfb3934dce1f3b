/**
 * The line service: HTTP API (Fastify), watch folder, model drop folder, results store, metrics,
 * live events. `startLineService` starts it; `close()` (or SIGTERM through `runLineService`)
 * stops taking work, finishes everything in flight, commits it and closes the store.
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { resolve, join } from 'node:path';
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import pino, { type Logger } from 'pino';
import { maxImagePixels } from '@residuum/imaging';
import type { NodeProviderRequest } from '@residuum/runtime-node';
import { defaultModelPath } from './default-model.js';
import { pixelLimitProblem } from './image-limits.js';
import { openDestinations, type Destinations, type DestinationsConfig } from './destinations/index.js';
import { createMetrics } from './metrics.js';
import { ModelDropFolder } from './model-drop.js';
import { ModelRegistry, ModelRejectedError, type ActiveModel } from './models.js';
import { InspectionPipeline, QueueFullError, type HeatmapPolicy, type ImageMeta, type InspectOutcome } from './pipeline.js';
import { resultsCsvHeader, resultCsvLine, toApiResult } from './result-format.js';
import { ResultStore, VERDICTS, type ResultQuery, type ResultRow, type Verdict } from './store.js';
import { WatchFolder } from './watch-folder.js';

export interface LineServiceOptions {
  /** The .onnx to serve; default: the last active version in the data folder, else the embedded default model. */
  model?: string;
  /** The model served when none is given and the data folder holds no active version; default: the embedded default model. */
  fallbackModel?: string;
  host?: string;
  port?: number;
  dataDir?: string;
  /** Watch folder (default `<data>/watch`); false: none. */
  watchDir?: string | false;
  /** Quiet period of the watch and model folders in ms (default 500); 0: rename-into-place only. */
  quietMs?: number;
  /** Bearer token for model changes; required to change models when bound beyond localhost. */
  token?: string;
  provider?: NodeProviderRequest;
  threads?: number;
  batchSize?: number;
  concurrency?: number;
  queueCapacity?: number;
  deadlineMs?: number;
  maxBodyBytes?: number;
  maxPixels?: number;
  heatmaps?: HeatmapPolicy;
  retentionDays?: number;
  diskBudgetBytes?: number;
  station?: string;
  camera?: string;
  /** A pino logger, or its level (default 'info', to stdout). */
  logger?: Logger | string;
  /** MQTT, webhook, central database (issue 17); none by default. */
  destinations?: DestinationsConfig;
}

export interface LineService {
  url: string;
  host: string;
  port: number;
  dataDir: string;
  store: ResultStore;
  models: ModelRegistry;
  pipeline: InspectionPipeline;
  watchFolder: WatchFolder | null;
  destinations: Destinations | null;
  log: Logger;
  close(): Promise<void>;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  dataDir: './residuum-line',
  quietMs: 500,
  provider: 'auto' as NodeProviderRequest,
  batchSize: 8,
  concurrency: 2,
  queueCapacity: 256,
  deadlineMs: 5000,
  maxBodyBytes: 32 * 1024 * 1024,
  heatmaps: 'all' as HeatmapPolicy,
};

const IMAGE_CONTENT_TYPES = /^(image\/[\w.+-]+|application\/octet-stream)$/i;

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

function positive(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number, got ${String(value)}`);
  return v;
}

export async function startLineService(options: LineServiceOptions = {}): Promise<LineService> {
  const host = options.host ?? DEFAULTS.host;
  const port = options.port ?? DEFAULTS.port;
  const dataDir = resolve(options.dataDir ?? DEFAULTS.dataDir);
  const quietMs = options.quietMs ?? DEFAULTS.quietMs;
  const maxBodyBytes = positive(options.maxBodyBytes, DEFAULTS.maxBodyBytes, 'maxBodyBytes');
  const maxPixels = positive(options.maxPixels, maxImagePixels(), 'maxPixels');
  const log = typeof options.logger === 'object' ? options.logger : pino({ level: options.logger ?? 'info', base: { service: 'residuum-line' } });
  const beyondLocalhost = !isLoopback(host);
  if (beyondLocalhost && !options.token) log.warn({ host }, 'listening beyond localhost without a token: model changes over HTTP are refused');

  const store = new ResultStore(dataDir);
  const metrics = createMetrics();
  const orphans = store.removeOrphanFiles();
  if (orphans > 0) log.warn({ removed: orphans }, 'removed files without a committed result (left by a crash)');
  const models = new ModelRegistry(store, dataDir, {
    provider: options.provider ?? DEFAULTS.provider,
    batchSize: positive(options.batchSize, DEFAULTS.batchSize, 'batchSize'),
    threads: options.threads,
  });
  models.onActivate((model) => {
    metrics.modelInfo.reset();
    metrics.modelInfo.set({ version: String(model.version), name: model.name, sha256: model.sha256 }, 1);
    log.info({ version: model.version, name: model.name, sha256: model.sha256, threshold: model.threshold, provider: model.inspector.provider }, 'model active');
  });
  const pipeline = new InspectionPipeline(store, models, metrics, {
    batchSize: positive(options.batchSize, DEFAULTS.batchSize, 'batchSize'),
    concurrency: positive(options.concurrency, DEFAULTS.concurrency, 'concurrency'),
    queueCapacity: positive(options.queueCapacity, DEFAULTS.queueCapacity, 'queueCapacity'),
    deadlineMs: positive(options.deadlineMs, DEFAULTS.deadlineMs, 'deadlineMs'),
    heatmaps: options.heatmaps ?? DEFAULTS.heatmaps,
  });

  let closing: Promise<void> | null = null;
  const teardown: Array<() => Promise<void> | void> = [];
  let destinations: Destinations | null = null;
  try {
    // Before the first model activation, so that event reaches the outbox too.
    if (options.destinations) {
      destinations = await openDestinations(store, options.destinations, log, metrics.registry);
      const outbox = destinations.outbox;
      pipeline.onResult(() => outbox.notify());
    }
    await activateInitialModel(models, store, options.model, options.fallbackModel ?? defaultModelPath(), log);

    const admit = async (bytes: Uint8Array, meta: ImageMeta, wait: boolean, receivedAt: number): Promise<InspectOutcome> => {
      const problem = await pixelLimitProblem(bytes, maxPixels);
      if (problem) return await pipeline.recordError(meta, problem, 422, undefined, receivedAt);
      return wait ? pipeline.submitWhenRoom(bytes, meta) : pipeline.submit(bytes, meta, receivedAt);
    };

    const app = Fastify({
      loggerInstance: log,
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: maxBodyBytes,
      return503OnClosing: true,
    });
    await app.register(multipart, { limits: { fileSize: maxBodyBytes, files: 1, fields: 16, fieldSize: 4096 }, throwFileSizeLimit: true });
    app.addContentTypeParser(IMAGE_CONTENT_TYPES, { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_request, body, done) => done(null, body));

    const events = new Set<FastifyReply>();
    const publish = (event: string, data: unknown) => {
      const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      for (const reply of events) reply.raw.write(text);
    };
    pipeline.onResult((row) => publish('result', toApiResult(row)));
    models.onActivate((model) => publish('model', modelSummary(model)));

    const requireModelAuth = (request: FastifyRequest, reply: FastifyReply): boolean => {
      if (!beyondLocalhost && !options.token) return true;
      if (!options.token) {
        void reply.code(403).send({ error: `model changes are refused: the service listens on ${host} (beyond localhost) and was started without --token` });
        return false;
      }
      const given = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
      const a = Buffer.from(given);
      const b = Buffer.from(options.token);
      if (a.length !== b.length || !timingSafeEqual(a, b)) {
        void reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'a valid "Authorization: Bearer <token>" header is required to change models' });
        return false;
      }
      return true;
    };

    // Errors before the handler (body too large, unknown content type) on /v1/inspect are results too.
    app.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, request, reply) => {
      const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      if (request.routeOptions.url === '/v1/inspect' && status < 500) {
        const reason =
          status === 413
            ? `body too large: over the ${maxBodyBytes} byte limit (--max-body-bytes)`
            : status === 415
              ? `unsupported content type ${JSON.stringify(request.headers['content-type'] ?? '')}: send the image as image/* or application/octet-stream, or multipart/form-data with a file part`
              : `bad request: ${error.message}`;
        const outcome = await pipeline.recordError(requestMeta(request, {}), reason, status);
        return reply.code(status).send(toApiResult(outcome.row));
      }
      if (status >= 500) log.error({ err: error, url: request.url }, 'request failed');
      return reply.code(status).send({ error: error.message });
    });

    app.post('/v1/inspect', async (request, reply) => {
      const receivedAt = performance.now();
      let bytes: Uint8Array | null = null;
      const fields: Record<string, string> = {};
      if (request.isMultipart()) {
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            if (bytes) return sendOutcome(reply, await pipeline.recordError(requestMeta(request, fields), 'bad request: more than one file part', 400));
            bytes = new Uint8Array(await part.toBuffer());
          } else {
            fields[part.fieldname] = String(part.value);
          }
        }
        if (!bytes) return sendOutcome(reply, await pipeline.recordError(requestMeta(request, fields), 'bad request: the multipart body has no file part', 400));
      } else if (Buffer.isBuffer(request.body)) {
        bytes = new Uint8Array(request.body);
      } else {
        const reason = `unsupported content type ${JSON.stringify(request.headers['content-type'] ?? '')}: send the image as image/* or application/octet-stream, or multipart/form-data with a file part`;
        return sendOutcome(reply, await pipeline.recordError(requestMeta(request, fields), reason, 415));
      }
      const meta = requestMeta(request, fields);
      if (meta.capturedAt === 'invalid') {
        return sendOutcome(reply, await pipeline.recordError({ ...meta, capturedAt: undefined }, 'bad request: capture time is not an ISO 8601 time', 400, bytes));
      }
      if (bytes.length === 0) return sendOutcome(reply, await pipeline.recordError(meta, 'unreadable image: the body is empty (0 bytes)', 422));
      try {
        return sendOutcome(reply, await admit(bytes, meta, false, receivedAt));
      } catch (error) {
        if (error instanceof QueueFullError) {
          return reply.code(503).header('Retry-After', '1').send({ error: error.message });
        }
        throw error;
      }
    });

    app.get('/v1/results', async (request, reply) => {
      const query = parseResultQuery(request.query as Record<string, string | undefined>);
      if ('error' in query) return reply.code(400).send({ error: query.error });
      const rows = store.query({ ...query, limit: query.limit + 1 });
      const more = rows.length > query.limit;
      const page = rows.slice(0, query.limit);
      return { results: page.map(toApiResult), next: more ? page[page.length - 1].id : null };
    });

    app.get('/v1/results.csv', async (request, reply) => {
      const query = parseResultQuery(request.query as Record<string, string | undefined>);
      if ('error' in query) return reply.code(400).send({ error: query.error });
      const { from, to, verdict, partId } = query;
      reply.header('Content-Type', 'text/csv; charset=utf-8').header('Content-Disposition', 'attachment; filename="residuum-results.csv"');
      return reply.send(
        Readable.from((function* () {
          yield resultsCsvHeader() + '\n';
          let chunk = '';
          for (const row of store.iterate({ from, to, verdict, partId })) {
            chunk += resultCsvLine(row) + '\n';
            if (chunk.length > 64 * 1024) (yield chunk, (chunk = ''));
          }
          if (chunk) yield chunk;
        })()),
      );
    });

    app.get('/v1/results/:id', async (request, reply) => {
      const row = store.get((request.params as { id: string }).id);
      return row ? toApiResult(row) : reply.code(404).send({ error: 'no such result' });
    });

    const sendResultFile = (pick: (row: ResultRow) => string | null) => async (request: FastifyRequest, reply: FastifyReply) => {
      const row = store.get((request.params as { id: string }).id);
      const file = row ? pick(row) : null;
      if (!row || !file || !existsSync(join(store.filesDir, file))) return reply.code(404).send({ error: row ? 'no such file (not kept, or removed by retention)' : 'no such result' });
      const ext = file.slice(file.lastIndexOf('.') + 1);
      const type = { png: 'image/png', jpg: 'image/jpeg', bmp: 'image/bmp', tif: 'image/tiff', webp: 'image/webp' }[ext] ?? 'application/octet-stream';
      return reply.header('Content-Type', type).header('Cache-Control', 'max-age=86400, immutable').send(readFileSync(join(store.filesDir, file)));
    };
    app.get('/v1/results/:id/heatmap.png', sendResultFile((row) => row.heatmapFile));
    app.get('/v1/results/:id/image', sendResultFile((row) => row.imageFile));

    app.get('/v1/models', async () => ({ active: models.active ? modelSummary(models.active) : null, versions: models.list() }));
    app.post('/v1/models', async (request, reply) => {
      if (!requireModelAuth(request, reply)) return reply;
      if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
        return reply.code(415).send({ error: 'send the .onnx file as the body (Content-Type: application/octet-stream)' });
      }
      const activate = (request.query as { activate?: string }).activate !== 'false';
      try {
        return await models.add(new Uint8Array(request.body), 'upload', activate);
      } catch (error) {
        if (error instanceof ModelRejectedError) return reply.code(422).send({ error: error.message, active: models.active ? modelSummary(models.active) : null });
        throw error;
      }
    });
    app.post('/v1/models/:version/activate', async (request, reply) => {
      if (!requireModelAuth(request, reply)) return reply;
      const version = Number((request.params as { version: string }).version);
      if (!Number.isInteger(version) || version < 1) return reply.code(400).send({ error: 'version must be a whole number >= 1' });
      try {
        return await models.activate(version);
      } catch (error) {
        if (error instanceof ModelRejectedError) return reply.code(422).send({ error: error.message, active: models.active ? modelSummary(models.active) : null });
        throw error;
      }
    });

    app.get('/healthz', async () => ({ status: 'ok' }));
    app.get('/readyz', async (_request, reply) => {
      const model = models.active;
      const ready = model !== null && closing === null;
      return reply.code(ready ? 200 : 503).send({
        ready,
        model: model ? modelSummary(model) : null,
        draining: closing !== null,
        queueDepth: pipeline.queueDepth,
        inFlight: pipeline.inFlight,
        // Detail only: readiness never depends on destinations (they buffer in the outbox).
        destinations: destinations?.detail() ?? null,
      });
    });
    app.get('/metrics', async (_request, reply) => {
      metrics.queueDepth.set(pipeline.queueDepth);
      metrics.inFlight.set(pipeline.inFlight);
      return reply.header('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
    });

    app.get('/v1/events', (request, reply) => {
      reply.raw.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
        'Access-Control-Allow-Origin': '*',
        'Cross-Origin-Resource-Policy': 'cross-origin',
      });
      reply.hijack();
      const model = models.active;
      reply.raw.write(`retry: 2000\nevent: model\ndata: ${JSON.stringify(model ? modelSummary(model) : null)}\n\n`);
      events.add(reply);
      request.raw.on('close', () => events.delete(reply));
    });
    const heartbeat = setInterval(() => {
      for (const reply of events) reply.raw.write(': keep-alive\n\n');
    }, 15_000);
    heartbeat.unref();
    const endEventStreams = () => {
      clearInterval(heartbeat);
      for (const reply of events) reply.raw.end();
      events.clear();
    };

    // The dashboard's line mode runs on another (cross-origin isolated) origin: read-only
    // endpoints allow it (CORS for fetch and EventSource, CORP for the heatmap images).
    app.addHook('onSend', async (request, reply, payload) => {
      if (request.method === 'GET') reply.header('Access-Control-Allow-Origin', '*').header('Cross-Origin-Resource-Policy', 'cross-origin');
      // While stopping, answers to requests that were in flight close their connection; a kept-alive
      // connection would keep app.close() waiting for the client.
      if (closing) reply.header('Connection', 'close');
      return payload;
    });

    await app.listen({ host, port });
    // Open event streams would keep app.close() waiting: they end first.
    teardown.unshift(() => app.close());
    teardown.unshift(endEventStreams);
    const address = app.server.address();
    const boundPort = typeof address === 'object' && address ? address.port : port;
    const urlHost = host.includes(':') ? `[${host}]` : host;

    const modelDrop = new ModelDropFolder(models, log, Math.max(quietMs, 200));
    await modelDrop.start();
    teardown.unshift(() => modelDrop.stop());

    let watchFolder: WatchFolder | null = null;
    if (options.watchDir !== false) {
      watchFolder = new WatchFolder(
        { dir: resolve(options.watchDir ?? join(dataDir, 'watch')), quietMs, station: options.station ?? null, camera: options.camera ?? null },
        store,
        (bytes, meta) => admit(bytes, meta, true, performance.now()),
        metrics,
        log,
      );
      await watchFolder.start();
      teardown.unshift(() => watchFolder!.stop());
    }

    const retention = { maxAgeDays: options.retentionDays, diskBudgetBytes: options.diskBudgetBytes };
    if (retention.maxAgeDays !== undefined || retention.diskBudgetBytes !== undefined) {
      const sweep = () => {
        const removed = store.applyRetention(retention);
        if (removed > 0) log.info({ removed, ...retention }, 'retention removed result files');
      };
      sweep();
      const timer = setInterval(sweep, 60_000);
      timer.unref();
      teardown.push(() => clearInterval(timer));
    }

    const url = `http://${urlHost}:${boundPort}`;
    // The README's line-PC unit runs node with --single-threaded-gc (the 1-client tail); say whether this one does.
    const singleThreadedGc = process.execArgv.includes('--single-threaded-gc');
    log.info({ url, dataDir, watchDir: watchFolder?.dir ?? null, modelsDir: models.dir, singleThreadedGc }, 'line service listening');
    return {
      url,
      host,
      port: boundPort,
      dataDir,
      store,
      models,
      pipeline,
      watchFolder,
      destinations,
      log,
      close() {
        closing ??= (async () => {
          // Order: stop the sources (watch folder, model drops, SSE), let HTTP finish its requests,
          // then finish the queue, commit, and close the model and the store.
          for (const step of teardown) await step();
          await pipeline.drain();
          await destinations?.close();
          await models.close();
          await store.close();
          log.info('line service stopped');
        })();
        return closing;
      },
    };
  } catch (error) {
    for (const step of teardown) await Promise.resolve(step()).catch(() => undefined);
    await pipeline.drain().catch(() => undefined);
    await destinations?.close().catch(() => undefined);
    await models.close().catch(() => undefined);
    await store.close();
    throw error;
  }
}

async function activateInitialModel(models: ModelRegistry, store: ResultStore, model: string | undefined, fallback: string, log: Logger): Promise<void> {
  if (model) {
    const path = resolve(model);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new ModelRejectedError(`model ${model}: ${code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, give the .onnx file' : (error as Error).message}`);
    }
    await models.add(bytes, model, true);
    return;
  }
  const last = store.lastActivatedModel();
  if (last) {
    try {
      await models.activate(last.version);
      return;
    } catch (error) {
      log.error({ err: error, version: last.version }, 'the last active model cannot serve; starting with the default model');
    }
  }
  await models.add(new Uint8Array(readFileSync(fallback)), fallback, true);
}

function modelSummary(model: ActiveModel) {
  return { version: model.version, name: model.name, family: model.family, sha256: model.sha256, threshold: model.threshold, provider: model.inspector.provider };
}

function sendOutcome(reply: FastifyReply, outcome: InspectOutcome) {
  return reply.code(outcome.status).send(toApiResult(outcome.row));
}

/** Part id, station, camera and capture time from multipart fields, query parameters or X- headers. */
function requestMeta(request: FastifyRequest, fields: Record<string, string>): ImageMeta {
  const query = (request.query ?? {}) as Record<string, string | undefined>;
  const pick = (name: string, header: string): string | null => {
    const value = fields[name] ?? query[name] ?? (request.headers[header] as string | undefined);
    return value === undefined || value === '' ? null : value.slice(0, 256);
  };
  const captured = pick('captureTime', 'x-capture-time');
  let capturedAt: string | undefined;
  if (captured) {
    const time = new Date(captured);
    capturedAt = Number.isNaN(time.getTime()) ? 'invalid' : time.toISOString();
  }
  return {
    source: 'http',
    sourceName: pick('filename', 'x-filename'),
    partId: pick('partId', 'x-part-id'),
    station: pick('station', 'x-station'),
    camera: pick('camera', 'x-camera'),
    capturedAt,
  };
}

type ParsedQuery = ResultQuery;

function parseResultQuery(query: Record<string, string | undefined>): ParsedQuery | { error: string } {
  const parsed: ParsedQuery = { limit: 100 };
  for (const key of ['from', 'to'] as const) {
    const value = query[key];
    if (value === undefined) continue;
    const time = new Date(value);
    if (Number.isNaN(time.getTime())) return { error: `${key} must be an ISO 8601 time, got ${JSON.stringify(value)}` };
    parsed[key] = time.toISOString();
  }
  if (query.verdict !== undefined) {
    if (!VERDICTS.includes(query.verdict as Verdict)) return { error: `verdict must be one of ${VERDICTS.join(', ')}, got ${JSON.stringify(query.verdict)}` };
    parsed.verdict = query.verdict as Verdict;
  }
  if (query.partId) parsed.partId = query.partId;
  const cursor = query.next ?? query.cursor;
  if (cursor) {
    if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(cursor)) return { error: 'next must be the "next" value of the previous page' };
    parsed.before = cursor;
  }
  if (query.limit !== undefined) {
    const limit = Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return { error: `limit must be a whole number from 1 to 1000, got ${JSON.stringify(query.limit)}` };
    parsed.limit = limit;
  }
  return parsed;
}

/** Starts the service and stops it cleanly on SIGTERM / SIGINT; resolves when it has stopped. */
export async function runLineService(options: LineServiceOptions = {}): Promise<void> {
  const service = await startLineService(options);
  await new Promise<void>((resolveStopped) => {
    const stop = (signal: NodeJS.Signals) => {
      service.log.info({ signal }, 'stopping: finishing in-flight work');
      void service.close().then(resolveStopped, (error: unknown) => {
        service.log.error({ err: error }, 'error while stopping');
        resolveStopped();
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
