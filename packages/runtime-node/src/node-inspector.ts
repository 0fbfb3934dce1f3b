/**
 * The edge Inspector: one Residuum ONNX model on onnxruntime-node. Images are decoded with
 * @residuum/imaging (sharp) at native size and preprocessed by @residuum/scoring exactly as
 * the card says. Three stages overlap: sharp decodes the next batches on libuv's threads (a
 * bounded queue), onnxruntime runs batch k on its worker thread, and the main thread scores
 * batch k - 1; scoring is the shared @residuum/inspection core, identical to the browser's.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import pLimit, { type LimitFunction } from 'p-limit';
import { decodeImage } from '@residuum/imaging';
import {
  OnnxFileError,
  createInspectorCore,
  describeOnnxModel,
  type InspectOptions,
  type InspectionResult,
  type Inspector,
  type InferredBatch,
  type InspectorCore,
  type ModelInputImage,
  type OnnxModelInfo,
  type PreparedImage,
  type ProviderAttempt,
  type UnreadableImage,
} from '@residuum/inspection';
import { ModelCardError, preprocessImage, resolveThreshold, type ModelCard } from '@residuum/scoring';
import { assertProviderRequest, createSession, type InferenceThread, type NodeExecutionProvider, type NodeProviderRequest } from './session.js';

export type NodeImageSource = string | Uint8Array;

export interface NodeInspectorOptions {
  /** 'auto' (default) tries CUDA, then CPU; a named provider is used or the call fails. */
  provider?: NodeProviderRequest;
  /** Intra-op threads for onnxruntime (default: onnxruntime's choice). */
  threads?: number;
  /**
   * Where onnxruntime computes. 'worker' (default): a worker thread, so decoding, preprocessing
   * and scoring of neighbouring batches overlap with inference. 'main': the calling thread
   * (onnxruntime-node's run blocks it while it computes).
   */
  inferenceThread?: InferenceThread;
  /**
   * Let onnxruntime's intra-op threads spin-wait for work between runs (onnxruntime's own
   * default). Default false: spinning threads take the cores that decoding and scoring need
   * while they overlap with inference; turn it on only for a machine that does nothing else.
   */
  spinWait?: boolean;
  /** Rows per inference call (images, or images x MC passes); default 8. */
  batchSize?: number;
  /**
   * Calls come with varying numbers of images (a server batching whatever is waiting): turn off
   * onnxruntime's memory pattern, which plans one allocation per input shape and re-plans when the
   * shape changes. Measured on 2 cores with the 224 px MobileNet DFR, batches of 1-8 mixed: 29-31
   * ms of CPU per image with the pattern (11-17 % of it in the kernel, mapping fresh memory), 23
   * without; with a constant batch size both cost the same (21.5-22 ms). Default false.
   */
  variableBatches?: boolean;
  /** Batches decoded ahead of inference (the bounded queue); default 2. */
  queueDepth?: number;
  /**
   * Images sharp decodes at the same time (each on one of libuv's threads). Default: the cores
   * onnxruntime leaves free, at least 1 (on the CPU provider: cores - threads, where unset threads
   * count as all cores; on CUDA and WebGPU: all cores). More decoders than free cores only take
   * turns with onnxruntime's threads and the main thread: measured on 2 cores at 128 px, batch 16,
   * 2 onnxruntime threads, 4 decoders and 1 gave the same images/s, and preprocessing took 1.0
   * instead of 0.8 ms of wall time per image.
   */
  decodeConcurrency?: number;
  /** Run one full batch at load so the first images are not slowed by allocation; default true. */
  warmup?: boolean;
  /** Overrides the card's MC-Dropout mask seed (card.mcDropout.seed, the one calibration used); for tests. */
  seed?: number;
  /**
   * onnxruntime's own console logging (ort.env.logLevel). Process-wide and fixed by the first
   * session of the process. 'fatal' keeps onnxruntime from printing the expected CUDA load
   * failure of `auto` (the failure is still recorded in `attempts`). Default: onnxruntime's.
   */
  logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
}

/** A preprocessed image (CHW, model space), e.g. from the trainer or a test. */
export interface TensorImage {
  source: string;
  input: ModelInputImage;
}

export interface NodeInspector extends Inspector<NodeImageSource> {
  readonly provider: NodeExecutionProvider;
  /** What the ONNX file declares (versions, producer, inputs, outputs). */
  readonly onnx: OnnxModelInfo;
  /** Duration of the warm-up run in ms, or null when warm-up was off. */
  readonly warmupMs: number | null;
  readonly batchSize: number;
  /**
   * inspect(), one batch of results at a time, in order, as soon as each is scored: the pipeline
   * stays full over the whole list while the caller reports or saves earlier results. The
   * arguments are checked when it is called; stopping early leaves no work behind.
   */
  inspectBatches(images: readonly NodeImageSource[], options?: InspectOptions): AsyncGenerator<InspectionResult[], void, undefined>;
  /** Scores images that are already preprocessed (skips decoding). */
  inspectTensors(images: readonly TensorImage[], options?: InspectOptions): Promise<InspectionResult[]>;
}

/**
 * Loads a Residuum ONNX model (a path or its bytes), checks its card against the graph and
 * creates the session on the requested provider. Throws OnnxFileError, ModelCardError or
 * ExecutionProviderError with the reason.
 */
export async function createNodeInspector(
  model: string | Uint8Array,
  options: NodeInspectorOptions = {},
): Promise<NodeInspector> {
  const request = options.provider ?? 'auto';
  assertProviderRequest(request);
  const batchSize = positiveInteger(options.batchSize ?? 8, 'batchSize');
  const queueDepth = positiveInteger(options.queueDepth ?? 2, 'queueDepth');
  if (options.threads !== undefined) positiveInteger(options.threads, 'threads');
  if (options.decodeConcurrency !== undefined) positiveInteger(options.decodeConcurrency, 'decodeConcurrency');
  if (options.logLevel !== undefined) {
    if (!['verbose', 'info', 'warning', 'error', 'fatal'].includes(options.logLevel)) {
      throw new RangeError(`logLevel must be verbose, info, warning, error or fatal, got ${JSON.stringify(options.logLevel)}`);
    }
    ort.env.logLevel = options.logLevel;
  }
  const modelName = typeof model === 'string' ? model : 'model bytes';
  const bytes = await readModelBytes(model);
  const { card, onnx } = describeWithSource(bytes, modelName);

  const thread = options.inferenceThread ?? 'worker';
  if (thread !== 'worker' && thread !== 'main') throw new RangeError(`inferenceThread must be 'worker' or 'main', got ${JSON.stringify(thread)}`);
  const { session, provider, attempts } = await createSession(bytes, request, { threads: options.threads, thread, logLevel: options.logLevel, spinWait: options.spinWait === true, variableBatches: options.variableBatches === true });
  const core = createInspectorCore({ card, provider, batchSize, seed: options.seed, run: (feeds) => session.run(feeds) });
  const cores = availableParallelism();
  const decodeConcurrency = options.decodeConcurrency ?? Math.max(1, provider === 'cpu' ? cores - (options.threads ?? cores) : cores);
  const decodeLimit = pLimit(decodeConcurrency);
  let warmupMs: number | null = null;
  if (options.warmup ?? true) warmupMs = await core.warmup();

  let disposed = false;
  const assertOpen = () => {
    if (disposed) throw new Error(`the inspector for ${modelName} was disposed`);
  };

  const inspectBatches = (images: readonly NodeImageSource[], inspectOptions: InspectOptions = {}) => {
    assertOpen();
    if (!Array.isArray(images)) throw new TypeError('inspect: images must be an array of paths or Buffers');
    resolveThreshold(card, inspectOptions.threshold);
    return inspectPipelined(core, card, images, inspectOptions, batchSize, queueDepth, decodeLimit);
  };

  return {
    card,
    onnx,
    provider,
    attempts: Object.freeze([...attempts]) as readonly ProviderAttempt[],
    warmupMs,
    batchSize,
    async inspect(images, inspectOptions = {}) {
      const results: InspectionResult[] = [];
      for await (const batch of inspectBatches(images, inspectOptions)) results.push(...batch);
      return results;
    },
    inspectBatches,
    async inspectTensors(images, inspectOptions = {}) {
      assertOpen();
      return core.inspectPrepared(
        images.map((image) => ({ source: image.source, input: image.input, preprocessMs: 0 })),
        inspectOptions,
      );
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await session.release();
    },
  };
}

async function* inspectPipelined(
  core: InspectorCore,
  card: ModelCard,
  images: readonly NodeImageSource[],
  options: InspectOptions,
  batchSize: number,
  queueDepth: number,
  decodeLimit: LimitFunction,
): AsyncGenerator<InspectionResult[], void, undefined> {
  const batches: Array<Array<{ image: NodeImageSource; index: number }>> = [];
  images.forEach((image, index) => {
    if (index % batchSize === 0) batches.push([]);
    batches[batches.length - 1].push({ image, index });
  });
  // Bounded queue: at most queueDepth decoded batches wait for inference at any time.
  const queue: Array<Promise<Array<PreparedImage | UnreadableImage>>> = [];
  let nextBatch = 0;
  const refill = () => {
    while (nextBatch < batches.length && queue.length < queueDepth) {
      // The limit starts decodes in submission order, so batch k is decoded before batch k + 1.
      queue.push(Promise.all(batches[nextBatch++].map(({ image, index }) => decodeLimit(() => prepareImage(image, index, card)))));
    }
  };
  refill();
  // Batch k infers (on the worker) while the main thread scores batch k - 1 (and the consumer
  // handles its results) and finishes preprocessing what the libuv threads decoded.
  let inferred: InferredBatch | null = null;
  while (queue.length > 0) {
    const prepared = await queue.shift()!;
    refill();
    const inferring = core.inferPrepared(prepared, options);
    inferring.catch(() => undefined); // awaited below; scoring first must not make it "unhandled"
    if (inferred) yield core.scoreInferred(inferred);
    inferred = await inferring;
  }
  if (inferred) yield core.scoreInferred(inferred);
}

/** Decode + preprocess one image; a failure is an entry for that image, never a throw. */
async function prepareImage(image: NodeImageSource, index: number, card: ModelCard): Promise<PreparedImage | UnreadableImage> {
  const source = typeof image === 'string' ? image : `buffer[${index}]`;
  const started = performance.now();
  try {
    if (typeof image !== 'string' && !(image instanceof Uint8Array)) {
      throw new TypeError(`expected a file path or a Buffer, got ${image === null ? 'null' : typeof image}`);
    }
    const raw = await decodeImage(image, { source });
    const decoded = performance.now();
    const { channels, height, width } = card.preprocessing;
    const data = preprocessImage(raw, card.preprocessing);
    return { source, input: { data, channels, height, width }, preprocessMs: performance.now() - started, decodeMs: decoded - started };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // ImageDecodeError messages already start with the source.
    return { source, error: message.startsWith(source) ? message.slice(source.length).replace(/^:\s*/, '') : message };
  }
}

async function readModelBytes(model: string | Uint8Array): Promise<Uint8Array> {
  if (model instanceof Uint8Array) return model;
  if (typeof model !== 'string' || model.length === 0) {
    throw new TypeError('createNodeInspector: model must be a path to a .onnx file or its bytes (Uint8Array/Buffer)');
  }
  try {
    return new Uint8Array(await readFile(model));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, not an ONNX file' : (error as Error).message;
    throw new OnnxFileError('unreadable', `cannot read model ${model}: ${reason}`);
  }
}

/** describeOnnxModel, with the model's path in the message. */
function describeWithSource(bytes: Uint8Array, modelName: string): { card: ModelCard; onnx: OnnxModelInfo } {
  try {
    return describeOnnxModel(bytes);
  } catch (error) {
    if (error instanceof OnnxFileError) throw new OnnxFileError(error.problem, `${modelName}: ${error.message}`);
    if (error instanceof ModelCardError) {
      const context = error.message.split(':\n')[0];
      throw new ModelCardError(error.problems, `${modelName}: ${context}`);
    }
    throw error;
  }
}

function positiveInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
