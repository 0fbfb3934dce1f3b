/**
 * The one Inspector implementation. A runtime supplies only what differs between Node and the
 * browser: the session (provider choice, onnxruntime's tensors) and image decoding (sharp, or
 * createImageBitmap). Everything else is here: loading the card with the model's name in every
 * message, preprocessing, the pipeline (decoding of the next batches overlaps inference of this
 * one and scoring of the previous one), error entries for unreadable images, disposal.
 */
import { ModelCardError, preprocessImage, resolveThreshold, type ModelCard, type RawImage } from '@residuum/scoring';
import pLimit from 'p-limit';
import type { ExecutionProvider, InspectOptions, InspectionResult, Inspector, ModelInputImage, ProviderAttempt } from './inspector.js';
import { createInspectorCore, type InferredBatch, type InspectorCore, type PreparedImage, type RunModel, type UnreadableImage } from './inspector-impl.js';
import { describeOnnxModel } from './onnx/load-model-card.js';
import { OnnxFileError, type OnnxModelInfo } from './onnx/onnx-model-info.js';

/** An open onnxruntime session, as the runtime created it. */
export interface InspectorSession {
  /** The provider that runs it. */
  provider: ExecutionProvider;
  /** Every provider tried, in order, with the reason for each failure. */
  attempts: readonly ProviderAttempt[];
  run: RunModel;
  release(): Promise<void>;
}

/** How the runtime turns its image sources into 8-bit pixels at native size. */
export interface ImageDecoder<TImage> {
  /** The name of image `index` in results (a path, a file name). */
  label(image: TImage, index: number): string;
  /** Decodes one image; throws with the reason when it cannot (the image becomes an error entry). */
  decode(image: TImage, source: string): Promise<RawImage>;
  /** The TypeError message when `images` is not an array. */
  notAnArray: string;
}

export interface RuntimeInspectorOptions<TImage> {
  card: ModelCard;
  session: InspectorSession;
  decoder: ImageDecoder<TImage>;
  /** The model's path, URL or file name, for messages. */
  modelName: string;
  /** Rows (images x MC passes) per session run; default the core's (8). */
  batchSize?: number;
  /** Overrides the card's MC-Dropout mask seed (tests only); see InspectorCoreOptions.seed. */
  seed?: number;
  /** Batches decoded ahead of inference (the bounded queue); default 2. */
  queueDepth?: number;
  /** Images decoded at the same time; default 1. */
  decodeConcurrency?: number;
}

/** A preprocessed image (CHW, model space), e.g. from the trainer or a test. */
export interface TensorImage {
  source: string;
  input: ModelInputImage;
}

export interface RuntimeInspector<TImage> extends Inspector<TImage> {
  readonly batchSize: number;
  /** The scoring core (batching, MC passes, scoring), for warm-up runs. */
  readonly core: InspectorCore;
  /**
   * inspect(), one batch of results at a time, in order, as soon as each is scored: the pipeline
   * stays full over the whole list while the caller reports or saves earlier results. The
   * arguments are checked when it is called; stopping early leaves no work behind.
   */
  inspectBatches(images: readonly TImage[], options?: InspectOptions): AsyncGenerator<InspectionResult[], void, undefined>;
  /** Scores images that are already preprocessed (skips decoding). */
  inspectTensors(images: readonly TensorImage[], options?: InspectOptions): Promise<InspectionResult[]>;
  /** Throws when the inspector was disposed. */
  assertOpen(): void;
}

/** Reads the card of a model's bytes and checks it against the graph; errors name the model. */
export function describeNamedOnnxModel(bytes: Uint8Array, modelName: string): { card: ModelCard; onnx: OnnxModelInfo } {
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

export function createRuntimeInspector<TImage>(options: RuntimeInspectorOptions<TImage>): RuntimeInspector<TImage> {
  const { card, session, decoder, modelName } = options;
  const queueDepth = positiveInteger(options.queueDepth ?? 2, 'queueDepth');
  const decodeLimit = pLimit(positiveInteger(options.decodeConcurrency ?? 1, 'decodeConcurrency'));
  const core = createInspectorCore({
    card,
    provider: session.provider,
    run: session.run,
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
  let disposed = false;
  const assertOpen = () => {
    if (disposed) throw new Error(`the inspector for ${modelName} was disposed`);
  };

  const prepare = async (image: TImage, index: number): Promise<PreparedImage | UnreadableImage> => {
    let source = `image ${index + 1}`;
    const started = performance.now();
    try {
      source = decoder.label(image, index);
      const raw = await decoder.decode(image, source);
      const decoded = performance.now();
      const { channels, height, width } = card.preprocessing;
      const data = preprocessImage(raw, card.preprocessing);
      return { source, input: { data, channels, height, width }, preprocessMs: performance.now() - started, decodeMs: decoded - started };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // Decoders' messages often start with the source already.
      return { source, error: message.startsWith(source) ? message.slice(source.length).replace(/^:\s*/, '') : message };
    }
  };

  async function* pipeline(images: readonly TImage[], inspectOptions: InspectOptions): AsyncGenerator<InspectionResult[], void, undefined> {
    const batches: Array<Array<{ image: TImage; index: number }>> = [];
    images.forEach((image, index) => {
      if (index % core.batchSize === 0) batches.push([]);
      batches[batches.length - 1].push({ image, index });
    });
    // Bounded queue: at most queueDepth decoded batches wait for inference at any time.
    const queue: Array<Promise<Array<PreparedImage | UnreadableImage>>> = [];
    let nextBatch = 0;
    const refill = () => {
      while (nextBatch < batches.length && queue.length < queueDepth) {
        // The limit starts decodes in submission order, so batch k is decoded before batch k + 1.
        queue.push(Promise.all(batches[nextBatch++].map(({ image, index }) => decodeLimit(() => prepare(image, index)))));
      }
    };
    refill();
    // Batch k infers while batch k - 1 is scored (and the consumer handles its results).
    let inferred: InferredBatch | null = null;
    while (queue.length > 0) {
      const prepared = await queue.shift()!;
      refill();
      const inferring = core.inferPrepared(prepared, inspectOptions);
      inferring.catch(() => undefined); // awaited below; scoring first must not make it "unhandled"
      if (inferred) yield core.scoreInferred(inferred);
      inferred = await inferring;
    }
    if (inferred) yield core.scoreInferred(inferred);
  }

  const inspectBatches = (images: readonly TImage[], inspectOptions: InspectOptions = {}) => {
    assertOpen();
    if (!Array.isArray(images)) throw new TypeError(decoder.notAnArray);
    resolveThreshold(card, inspectOptions.threshold); // a bad override fails before any work
    return pipeline(images, inspectOptions);
  };

  return {
    card,
    provider: session.provider,
    attempts: Object.freeze([...session.attempts]),
    batchSize: core.batchSize,
    core,
    assertOpen,
    inspectBatches,
    async inspect(images, inspectOptions = {}) {
      const results: InspectionResult[] = [];
      for await (const batch of inspectBatches(images, inspectOptions)) results.push(...batch);
      return results;
    },
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

function positiveInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
