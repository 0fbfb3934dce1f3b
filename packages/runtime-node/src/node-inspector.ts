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
import { decodeImage } from '@residuum/imaging';
import {
  OnnxFileError,
  createRuntimeInspector,
  describeNamedOnnxModel,
  type ImageDecoder,
  type OnnxModelInfo,
  type RuntimeInspector,
} from '@residuum/inspection';
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

export type { TensorImage } from '@residuum/inspection';

export interface NodeInspector extends RuntimeInspector<NodeImageSource> {
  readonly provider: NodeExecutionProvider;
  /** What the ONNX file declares (versions, producer, inputs, outputs). */
  readonly onnx: OnnxModelInfo;
  /** Duration of the warm-up run in ms, or null when warm-up was off. */
  readonly warmupMs: number | null;
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
  const { card, onnx } = describeNamedOnnxModel(bytes, modelName);

  const thread = options.inferenceThread ?? 'worker';
  if (thread !== 'worker' && thread !== 'main') throw new RangeError(`inferenceThread must be 'worker' or 'main', got ${JSON.stringify(thread)}`);
  const { session, provider, attempts } = await createSession(bytes, request, { threads: options.threads, thread, logLevel: options.logLevel, spinWait: options.spinWait === true, variableBatches: options.variableBatches === true });
  const cores = availableParallelism();
  const inspector = createRuntimeInspector({
    card,
    session: { provider, attempts, run: (feeds) => session.run(feeds), release: () => session.release() },
    decoder: sharpDecoder,
    modelName,
    batchSize,
    queueDepth,
    seed: options.seed,
    decodeConcurrency: options.decodeConcurrency ?? Math.max(1, provider === 'cpu' ? cores - (options.threads ?? cores) : cores),
  });
  // One full batch of zeros, so the first images do not pay for allocation.
  const warmupMs = options.warmup ?? true ? await inspector.core.warmup() : null;
  return Object.assign(inspector, { provider, onnx, warmupMs });
}

/** Paths and Buffers, decoded by sharp (@residuum/imaging) at native size on libuv's threads. */
const sharpDecoder: ImageDecoder<NodeImageSource> = {
  notAnArray: 'inspect: images must be an array of paths or Buffers',
  label: (image, index) => (typeof image === 'string' ? image : `buffer[${index}]`),
  async decode(image, source) {
    if (typeof image !== 'string' && !(image instanceof Uint8Array)) {
      throw new TypeError(`expected a file path or a Buffer, got ${image === null ? 'null' : typeof image}`);
    }
    return decodeImage(image, { source });
  },
};

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

function positiveInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
