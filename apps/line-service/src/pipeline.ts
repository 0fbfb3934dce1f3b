/**
 * From image bytes to a committed result row. Jobs wait in one bounded queue; `concurrency`
 * batch loops take up to `batchSize` jobs each, so while one batch infers on onnxruntime's
 * worker thread the next one is decoded and the previous one scored and stored. Each batch's
 * files are written (and fsynced) first, then its rows commit in one transaction, then the
 * waiting callers are answered: nothing is acknowledged before it is durable.
 */
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monotonicFactory } from 'ulid';
import { decodeImage, encodePng, modelTensorToImage, renderHeatmapOverlay } from '@residuum/imaging';
import type { InspectionResult, ModelInputImage } from '@residuum/inspection';
import { heatScaleMax, preprocessImage, type ModelCard, type PreprocessingSpec, type RawImage } from '@residuum/scoring';
import type { ActiveModel, ModelRegistry } from './models.js';
import type { LineMetrics } from './metrics.js';
import type { FileIdentity, ResultRow, ResultSource, ResultStore, Verdict } from './store.js';

export interface ImageMeta {
  source: ResultSource;
  sourceName: string | null;
  partId: string | null;
  station: string | null;
  camera: string | null;
  /** ISO time; default: when the image arrived. */
  capturedAt?: string;
  file?: FileIdentity;
}

/** What the caller gets back: the committed row and the HTTP status that goes with it. */
export interface InspectOutcome {
  row: ResultRow;
  status: number;
}

/** The queue is full: answer 503 with Retry-After. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

/**
 * zlib level of heatmap PNGs: 1 instead of 6 cuts their encoding from 6.8 to 2.5 ms of CPU per
 * image (224 px DFR overlay; files 105 instead of 85 KB), paid on every request's path.
 */
const HEATMAP_PNG_LEVEL = 1;

/** Which results keep a heatmap file: all, only anomalous ones, or none. */
export type HeatmapPolicy = 'all' | 'anomalous' | 'none';

export interface PipelineOptions {
  batchSize: number;
  /** Batches in flight at once (decode / infer / store overlap). */
  concurrency: number;
  /** Jobs waiting beyond those being processed; more gets QueueFullError. */
  queueCapacity: number;
  deadlineMs: number;
  heatmaps: HeatmapPolicy;
}

/** An image decoded (and preprocessed for the model active when it arrived), or why it could not be. */
interface Prepared {
  raw?: RawImage;
  input?: ModelInputImage;
  spec?: PreprocessingSpec;
  error?: string;
  decodeMs: number;
  preprocessMs: number;
}

interface Job {
  bytes: Uint8Array;
  meta: ImageMeta;
  /**
   * Started on libuv's threads while the job waits, for the first few batches of the queue only
   * (decoded images take memory), so decoding overlaps other batches' inference.
   */
  prepared: Promise<Prepared> | null;
  receivedAt: number;
  receivedIso: string;
  deadline: number;
  resolve: (outcome: InspectOutcome) => void;
  reject: (error: Error) => void;
}

const MAGIC: ReadonlyArray<[number[], string]> = [
  [[0x89, 0x50, 0x4e, 0x47], 'png'],
  [[0xff, 0xd8, 0xff], 'jpg'],
  [[0x42, 0x4d], 'bmp'],
  [[0x49, 0x49, 0x2a, 0x00], 'tif'],
  [[0x4d, 0x4d, 0x00, 0x2a], 'tif'],
  [[0x52, 0x49, 0x46, 0x46], 'webp'],
];

export function imageExtension(bytes: Uint8Array): string {
  for (const [magic, ext] of MAGIC) if (magic.every((byte, i) => bytes[i] === byte)) return ext;
  return 'bin';
}

/** 0 -> dark, 2 x the pixel threshold (else the image threshold) -> bright, as `residuum inspect --maps`. */
export class InspectionPipeline {
  private readonly waiting: Job[] = [];
  private readonly wakeups: Array<() => void> = [];
  private readonly spaceWaiters: Array<() => void> = [];
  private running = 0;
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private readonly newId = monotonicFactory();
  private readonly resultListeners: Array<(row: ResultRow) => void> = [];

  constructor(
    private readonly store: ResultStore,
    private readonly models: ModelRegistry,
    private readonly metrics: LineMetrics,
    readonly options: PipelineOptions,
  ) {
    for (let i = 0; i < options.concurrency; i += 1) this.loops.push(this.loop());
  }

  get queueDepth(): number {
    return this.waiting.length;
  }

  get inFlight(): number {
    return this.running;
  }

  onResult(listener: (row: ResultRow) => void): void {
    this.resultListeners.push(listener);
  }

  newResultId(): string {
    return this.newId();
  }

  /** Queues an image; throws QueueFullError when the queue is full (HTTP answers 503). */
  submit(bytes: Uint8Array, meta: ImageMeta, receivedAt = performance.now()): Promise<InspectOutcome> {
    if (this.stopped) throw new QueueFullError('the service is shutting down');
    if (this.waiting.length >= this.options.queueCapacity) {
      this.metrics.rejectedFull.inc();
      throw new QueueFullError(`the inspection queue is full (${this.options.queueCapacity} images waiting)`);
    }
    return this.enqueue(bytes, meta, receivedAt);
  }

  /** Queues an image, waiting for room instead of failing (the watch folder's back-pressure). */
  async submitWhenRoom(bytes: Uint8Array, meta: ImageMeta): Promise<InspectOutcome> {
    while (this.waiting.length >= this.options.queueCapacity && !this.stopped) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
    if (this.stopped) throw new QueueFullError('the service is shutting down');
    return this.enqueue(bytes, meta, performance.now());
  }

  /** Records a result that never reached the model (bad request, over the pixel limit). */
  async recordError(meta: ImageMeta, error: string, status: number, bytes?: Uint8Array, receivedAt = performance.now()): Promise<InspectOutcome> {
    const now = new Date().toISOString();
    const id = this.newId();
    let imageFile: string | null = null;
    if (bytes && bytes.length > 0) imageFile = await this.writeFile(id, now, `image.${imageExtension(bytes)}`, bytes);
    const model = this.models.active;
    const row = errorRow({ id, recordedAt: now, capturedAt: meta.capturedAt ?? now, meta, error, model, latency: { total: round(performance.now() - receivedAt) }, imageFile });
    await this.store.commit([row]);
    this.observe(row);
    this.published(row);
    return { row, status };
  }

  /** Stops taking work, finishes everything queued and in flight. */
  async drain(): Promise<void> {
    this.stopped = true;
    for (const wake of this.wakeups.splice(0)) wake();
    for (const wake of this.spaceWaiters.splice(0)) wake();
    await Promise.all(this.loops);
  }

  private enqueue(bytes: Uint8Array, meta: ImageMeta, receivedAt: number): Promise<InspectOutcome> {
    return new Promise<InspectOutcome>((resolve, reject) => {
      this.waiting.push({
        bytes,
        meta,
        prepared: null,
        receivedAt,
        receivedIso: new Date().toISOString(),
        deadline: receivedAt + this.options.deadlineMs,
        resolve,
        reject,
      });
      this.metrics.queueDepth.set(this.waiting.length);
      this.prepareAhead();
      this.wakeups.shift()?.();
    });
  }

  /** Decodes ahead for the jobs that the next batches will take. */
  private prepareAhead(): void {
    const ahead = Math.min(this.waiting.length, this.options.batchSize * (this.options.concurrency + 1));
    const spec = this.models.active?.inspector.card.preprocessing;
    for (let i = 0; i < ahead; i += 1) {
      const job = this.waiting[i];
      job.prepared ??= prepare(job.bytes, spec);
    }
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (this.waiting.length === 0) {
        if (this.stopped) return;
        await new Promise<void>((resolve) => this.wakeups.push(resolve));
        continue;
      }
      const jobs = this.waiting.splice(0, this.options.batchSize);
      this.metrics.queueDepth.set(this.waiting.length);
      this.prepareAhead();
      for (const wake of this.spaceWaiters.splice(0, jobs.length)) wake();
      this.running += jobs.length;
      try {
        await this.process(jobs);
      } catch (error) {
        for (const job of jobs) job.reject(error as Error);
      } finally {
        this.running -= jobs.length;
      }
    }
  }

  private async process(jobs: Job[]): Promise<void> {
    const started = performance.now();
    const live = jobs.filter((job) => job.deadline > started);
    const late = jobs.filter((job) => job.deadline <= started);
    const outcomes: Array<{ job: Job; row: ResultRow; status: number }> = [];
    let inferredAt: number | null = null;
    const nowIso = () => new Date().toISOString();
    for (const job of late) {
      const id = this.newId();
      outcomes.push({
        job,
        status: 504,
        row: this.errorRow(id, job, `deadline exceeded: waited ${Math.round(started - job.receivedAt)} ms in the queue (deadline ${this.options.deadlineMs} ms)`, this.models.active, {
          queue: round(started - job.receivedAt),
        }),
      });
    }
    if (live.length > 0 && !this.models.active) {
      for (const job of live) outcomes.push({ job, status: 503, row: this.errorRow(this.newId(), job, 'no model is active', null, {}) });
    } else if (live.length > 0) {
      await this.models.withModel(async (model) => {
        const spec = model.inspector.card.preprocessing;
        const prepared = await Promise.all(live.map((job) => (job.prepared ?? prepare(job.bytes, spec)).then((p) => forSpec(p, spec))));
        const readable = live.map((_, i) => i).filter((i) => prepared[i].input !== undefined);
        const scored = await model.inspector.inspectTensors(
          readable.map((i) => ({ source: `image-${i}`, input: prepared[i].input! })),
          { returnMaps: this.options.heatmaps !== 'none' },
        );
        const results: Array<InspectionResult | null> = live.map(() => null);
        readable.forEach((i, k) => (results[i] = scored[k]));
        const inferred = performance.now();
        inferredAt = inferred;
        await Promise.all(
          results.map(async (result, i) => {
            const job = live[i];
            const id = this.newId();
            const queueMs = started - job.receivedAt;
            if (!result || !result.ok) {
              const reason = result && !result.ok ? result.error : (prepared[i].error ?? 'unknown decoding problem');
              const row = this.errorRow(id, job, `unreadable image: ${reason}`, model, { queue: round(queueMs), decode: round(prepared[i].decodeMs) });
              row.imageFile = await this.writeFile(id, row.recordedAt, `image.${imageExtension(job.bytes)}`, job.bytes);
              outcomes.push({ job, status: 422, row });
              return;
            }
            const late = inferred > job.deadline;
            const verdict: Verdict = late ? 'error' : result.isAnomalous ? 'anomalous' : 'ok';
            const recordedAt = nowIso();
            const row: ResultRow = {
              id,
              recordedAt,
              capturedAt: job.meta.capturedAt ?? job.receivedIso,
              source: job.meta.source,
              sourceName: job.meta.sourceName,
              partId: job.meta.partId,
              station: job.meta.station,
              camera: job.meta.camera,
              verdict,
              score: result.score,
              normalizedScore: result.normalizedScore,
              threshold: result.threshold,
              modelVersion: model.version,
              modelName: model.name,
              modelSha256: model.sha256,
              latency: {
                queue: round(queueMs),
                decode: round(prepared[i].decodeMs),
                preprocess: round(prepared[i].preprocessMs),
                inference: round(result.timings.inferenceMs),
                scoring: round(result.timings.scoringMs),
              },
              error: late ? `deadline exceeded: answered after ${Math.round(inferred - job.receivedAt)} ms (deadline ${this.options.deadlineMs} ms)` : null,
              heatmapFile: null,
              imageFile: null,
              file: job.meta.file ?? null,
            };
            // both before the commit, side by side: the original's fsync waits while the heatmap renders
            const [heatmapFile, imageFile] = await Promise.all([
              this.wantsHeatmap(verdict) ? this.writeHeatmap(id, recordedAt, result, model.inspector.card) : null,
              verdict !== 'ok' ? this.writeFile(id, recordedAt, `image.${imageExtension(job.bytes)}`, job.bytes) : null,
            ]);
            row.heatmapFile = heatmapFile;
            row.imageFile = imageFile;
            row.latency.files = round(performance.now() - inferred);
            outcomes.push({ job, status: late ? 504 : 200, row });
          }),
        );
      });
    }
    const beforeCommit = performance.now();
    const rows = outcomes.map((outcome) => outcome.row);
    await this.store.commit(rows);
    const committed = performance.now();
    this.metrics.stage.observe({ stage: 'commit' }, (committed - beforeCommit) / 1000);
    for (const { job, row, status } of outcomes) {
      // decode and preprocess ran while the image waited (they overlap queue); inspect: the batch's
      // wall time in the Inspector (inference and scoring are this image's share of it);
      // store: heatmap and image files (files: this image's), then the batch's commit (commit).
      if (inferredAt !== null && row.latency.inference !== undefined) row.latency.inspect = round(inferredAt - started);
      row.latency.store = round(committed - (inferredAt ?? started));
      row.latency.commit = round(committed - beforeCommit);
      row.latency.total = round(committed - job.receivedAt);
      this.observe(row);
      this.published(row);
      job.resolve({ row, status });
    }
  }

  private wantsHeatmap(verdict: Verdict): boolean {
    return this.options.heatmaps === 'all' || (this.options.heatmaps === 'anomalous' && verdict === 'anomalous');
  }

  private errorRow(id: string, job: Job, error: string, model: ActiveModel | null, latency: Record<string, number>): ResultRow {
    return errorRow({ id, recordedAt: new Date().toISOString(), capturedAt: job.meta.capturedAt ?? job.receivedIso, meta: job.meta, error, model, latency, imageFile: null });
  }

  private async writeHeatmap(id: string, recordedAt: string, result: InspectionResult, card: ModelCard): Promise<string | null> {
    if (!result.ok || !result.map || !result.input) return null;
    const input = modelTensorToImage(result.input.data, card.preprocessing);
    const overlay = renderHeatmapOverlay(input, result.map, { range: { min: 0, max: heatScaleMax(card) }, alpha: 0.6 });
    return this.writeFile(id, recordedAt, 'heatmap.png', await encodePng(overlay, { compressionLevel: HEATMAP_PNG_LEVEL }), false);
  }

  /**
   * Writes a result's file before its row commits; returns its path relative to files/. Originals
   * (the evidence of a reject) are fsynced like the row; heatmaps are not (one fsync per image
   * would halve throughput on a 2-core line PC): a process crash cannot lose them, a power loss can
   * lose the last seconds' heatmaps, and the API then answers 404 for them.
   */
  private async writeFile(id: string, recordedAt: string, suffix: string, data: Uint8Array, flush = true): Promise<string> {
    const day = recordedAt.slice(0, 10);
    mkdirSync(join(this.store.filesDir, day), { recursive: true });
    const relative = `${day}/${id}.${suffix}`;
    await writeFile(join(this.store.filesDir, relative), data, { flush });
    return relative;
  }

  private observe(row: ResultRow): void {
    this.metrics.images.inc({ verdict: row.verdict });
    if (row.verdict === 'error') this.metrics.errors.inc({ reason: errorReason(row.error) });
    for (const [stage, ms] of Object.entries(row.latency)) {
      if (stage !== 'commit') this.metrics.stage.observe({ stage }, ms / 1000);
    }
  }

  private published(row: ResultRow): void {
    for (const listener of this.resultListeners) listener(row);
  }
}

/** A short label for the errors metric. */
export function errorReason(error: string | null): string {
  if (!error) return 'unknown';
  if (error.startsWith('deadline')) return 'deadline';
  if (error.startsWith('unreadable')) return 'unreadable';
  if (error.startsWith('no model')) return 'no_model';
  if (error.startsWith('too many pixels')) return 'pixel_limit';
  if (error.startsWith('body too large')) return 'body_too_large';
  if (error.startsWith('unsupported content type')) return 'content_type';
  return 'bad_request';
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Decodes (sharp, on libuv's threads) and preprocesses per the card, as runtime-node's Inspector does. */
async function prepare(bytes: Uint8Array, spec: PreprocessingSpec | undefined): Promise<Prepared> {
  const started = performance.now();
  let raw: RawImage;
  try {
    raw = await decodeImage(bytes, { source: 'image' });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { error: message.replace(/^image:\s*/, ''), decodeMs: performance.now() - started, preprocessMs: 0 };
  }
  const decodeMs = performance.now() - started;
  return spec ? forSpec({ raw, decodeMs, preprocessMs: 0 }, spec) : { raw, decodeMs, preprocessMs: 0 };
}

/** The model input for this spec; preprocessed again when the model changed since the image arrived. */
function forSpec(prepared: Prepared, spec: PreprocessingSpec): Prepared {
  if (!prepared.raw || prepared.spec === spec) return prepared;
  const started = performance.now();
  let data: Float32Array;
  try {
    data = preprocessImage(prepared.raw, spec);
  } catch (error) {
    return { ...prepared, raw: undefined, error: error instanceof Error ? error.message : String(error) };
  }
  return {
    ...prepared,
    spec,
    input: { data, channels: spec.channels, height: spec.height, width: spec.width },
    preprocessMs: prepared.preprocessMs + performance.now() - started,
  };
}

/** The row of an image that got no score: never reached the model, or the model failed on it. */
function errorRow(fields: {
  id: string;
  recordedAt: string;
  capturedAt: string;
  meta: ImageMeta;
  error: string;
  model: ActiveModel | null;
  latency: Record<string, number>;
  imageFile: string | null;
}): ResultRow {
  const { meta, model } = fields;
  return {
    id: fields.id,
    recordedAt: fields.recordedAt,
    capturedAt: fields.capturedAt,
    source: meta.source,
    sourceName: meta.sourceName,
    partId: meta.partId,
    station: meta.station,
    camera: meta.camera,
    verdict: 'error',
    score: null,
    normalizedScore: null,
    threshold: model?.threshold ?? null,
    modelVersion: model?.version ?? null,
    modelName: model?.name ?? null,
    modelSha256: model?.sha256 ?? null,
    latency: fields.latency,
    error: fields.error,
    heatmapFile: null,
    imageFile: fields.imageFile,
    file: meta.file ?? null,
  };
}
