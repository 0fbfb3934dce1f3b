/**
 * The runtime-independent half of an Inspector: batching of preprocessed images (and of
 * MC-Dropout passes), running the model through a runtime-supplied function, and scoring.
 * runtime-node and runtime-web only decode images and wrap their onnxruntime session.
 */
import {
  createPassMasks,
  mcPassCount,
  resolveThreshold,
  scoreImage,
  type ModelCard,
  type PassMasks,
  type PassOutputs,
  type TensorData,
} from '@residuum/scoring';
import type {
  ExecutionProvider,
  InspectOptions,
  InspectionResult,
  InspectionSuccess,
  ModelInputImage,
} from './inspector.js';

export type ModelFeeds = Record<string, TensorData>;
export type ModelOutputs = Record<string, TensorData>;
/** Runs the model once on a batch; the runtime maps TensorData to and from its own tensors. */
export type RunModel = (feeds: ModelFeeds) => Promise<ModelOutputs>;

/** An image its runtime decoded and preprocessed (CHW, model space). */
export interface PreparedImage {
  source: string;
  input: ModelInputImage;
  /** Decoding plus preprocessing, in ms. */
  preprocessMs: number;
  /** The decoding part of preprocessMs, where the runtime decodes (reported as timings.decodeMs). */
  decodeMs?: number;
}

/** An image its runtime could not read: it becomes an error entry, the run continues. */
export interface UnreadableImage {
  source: string;
  error: string;
}

export interface InspectorCoreOptions {
  card: ModelCard;
  provider: ExecutionProvider;
  run: RunModel;
  /** Rows (images x MC passes) per model run; default 8. */
  batchSize?: number;
  /** Overrides card.mcDropout.seed (the MC-Dropout mask seed the trainer calibrated with); tests only. */
  seed?: number;
}

export interface InspectorCore {
  readonly card: ModelCard;
  readonly provider: ExecutionProvider;
  readonly batchSize: number;
  /** inferPrepared, then scoreInferred. */
  inspectPrepared(images: ReadonlyArray<PreparedImage | UnreadableImage>, options?: InspectOptions): Promise<InspectionResult[]>;
  /**
   * The model half: checks the images and runs every model row (images x passes). A pipelined
   * runtime starts the next batch's inference with this before scoring the previous batch.
   */
  inferPrepared(images: ReadonlyArray<PreparedImage | UnreadableImage>, options?: InspectOptions): Promise<InferredBatch>;
  /** The scoring half (synchronous): maps, scores and verdicts, in the images' order. */
  scoreInferred(batch: InferredBatch): InspectionResult[];
  /** Runs one full batch of zeros so the first real batch does not pay for allocation; returns ms. */
  warmup(): Promise<number>;
}

/** A batch whose model outputs are in, waiting for scoring (opaque outside the core). */
export interface InferredBatch {
  readonly images: ReadonlyArray<PreparedImage | UnreadableImage>;
  readonly options: InspectOptions;
  /** Entries already decided (unreadable or wrong-shape images); the rest are scored. */
  readonly results: InspectionResult[];
  readonly inputs: readonly ModelInputImage[];
  readonly imageIndexOfInput: readonly number[];
  readonly passOutputs: readonly PassOutputs[][];
  readonly inferenceMs: Float64Array;
}

const DEFAULT_BATCH_SIZE = 8;

interface Row {
  image: number;
  pass: number;
}

export function createInspectorCore(options: InspectorCoreOptions): InspectorCore {
  const { card, provider, run } = options;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
  }
  const [, channels, height, width] = card.input.shape;
  const inputSize = channels * height * width;
  const passMasksOf = new Map<number, PassMasks>();
  /** The masks of `passes`-pass inspection (the card's seed; one pass is the deterministic one). */
  function passMasksFor(passes: number): PassMasks {
    let masks = passMasksOf.get(passes);
    if (!masks) passMasksOf.set(passes, (masks = createPassMasks(card, passes, options.seed)));
    return masks;
  }

  async function runRows(rows: readonly Row[], inputs: readonly ModelInputImage[], passes: number): Promise<ModelOutputs> {
    const batch = new Float32Array(rows.length * inputSize);
    rows.forEach((row, r) => batch.set(inputs[row.image].data, r * inputSize));
    const feeds: ModelFeeds = { [card.input.name]: { data: batch, dims: [rows.length, channels, height, width] } };
    const passMasks = passMasksFor(passes);
    for (const mask of card.mcDropout?.maskInputs ?? []) {
      const perRow = rows.map((row) => passMasks(row.pass)[mask.name]);
      const rowSize = perRow[0].data.length;
      const data = new Float32Array(rows.length * rowSize);
      perRow.forEach((rowMask, r) => data.set(rowMask.data, r * rowSize));
      feeds[mask.name] = { data, dims: [rows.length, ...perRow[0].dims.slice(1)] };
    }
    const outputs = await run(feeds);
    for (const [name, tensor] of Object.entries(outputs)) {
      if (tensor.dims[0] !== rows.length) {
        throw new RangeError(`output '${name}' has batch dim ${tensor.dims[0]} for a batch of ${rows.length}`);
      }
    }
    return outputs;
  }

  const core: InspectorCore = {
    card,
    provider,
    batchSize,
    async warmup() {
      const started = performance.now();
      const zeros: ModelInputImage = { data: new Float32Array(inputSize), channels, height, width };
      const rows = Array.from({ length: batchSize }, () => ({ image: 0, pass: 0 }));
      await runRows(rows, [zeros], mcPassCount(card));
      return performance.now() - started;
    },

    async inspectPrepared(images, inspectOptions = {}) {
      return core.scoreInferred(await core.inferPrepared(images, inspectOptions));
    },

    async inferPrepared(images, inspectOptions = {}) {
      resolveThreshold(card, inspectOptions.threshold); // bad override: fail before any work
      const passes = mcPassCount(card, inspectOptions.mcSamples);
      const results: InspectionResult[] = new Array(images.length);
      const inputs: ModelInputImage[] = [];
      const imageIndexOfInput: number[] = [];
      images.forEach((image, index) => {
        if ('error' in image) {
          results[index] = { ok: false, source: image.source, error: image.error };
          return;
        }
        const problem = checkInput(image.input, channels, height, width);
        if (problem) results[index] = { ok: false, source: image.source, error: problem };
        else {
          imageIndexOfInput.push(index);
          inputs.push(image.input);
        }
      });

      const rows: Row[] = inputs.flatMap((_, image) => Array.from({ length: passes }, (_unused, pass) => ({ image, pass })));
      const passOutputs: PassOutputs[][] = inputs.map(() => []);
      const inferenceMs = new Float64Array(inputs.length);
      for (let start = 0; start < rows.length; start += batchSize) {
        const chunk = rows.slice(start, start + batchSize);
        const started = performance.now();
        const outputs = await runRows(chunk, inputs, passes);
        const perRowMs = (performance.now() - started) / chunk.length;
        chunk.forEach((row, r) => {
          inferenceMs[row.image] += perRowMs;
          passOutputs[row.image][row.pass] = sliceRow(outputs, r);
        });
      }
      return { images, options: inspectOptions, results, inputs, imageIndexOfInput, passOutputs, inferenceMs };
    },

    scoreInferred(batch) {
      const { images, options: inspectOptions, inputs, imageIndexOfInput, passOutputs, inferenceMs } = batch;
      const results = [...batch.results];
      inputs.forEach((input, i) => {
        const index = imageIndexOfInput[i];
        const prepared = images[index] as PreparedImage;
        const started = performance.now();
        try {
          const scored = scoreImage(card, input, passOutputs[i], {
            threshold: inspectOptions.threshold,
            returnMaps: inspectOptions.returnMaps,
          });
          if (!Number.isFinite(scored.score)) {
            results[index] = { ok: false, source: prepared.source, error: `the model produced a non-finite score (${scored.score})` };
            return;
          }
          const scoringMs = performance.now() - started;
          const success: InspectionSuccess = {
            ok: true,
            source: prepared.source,
            ...scored,
            provider,
            timings: {
              preprocessMs: prepared.preprocessMs,
              ...(prepared.decodeMs !== undefined ? { decodeMs: prepared.decodeMs } : {}),
              inferenceMs: inferenceMs[i],
              scoringMs,
              totalMs: prepared.preprocessMs + inferenceMs[i] + scoringMs,
            },
          };
          if (inspectOptions.returnMaps) success.input = input;
          results[index] = success;
        } catch (error) {
          results[index] = { ok: false, source: prepared.source, error: `scoring failed: ${(error as Error).message}` };
        }
      });
      return results;
    },
  };
  return core;
}

function checkInput(input: ModelInputImage, channels: number, height: number, width: number): string | null {
  if (!(input?.data instanceof Float32Array)) return 'the preprocessed input is not a Float32Array';
  if (input.channels !== channels || input.height !== height || input.width !== width) {
    return `the preprocessed input is ${input.channels}x${input.height}x${input.width}, the model needs ${channels}x${height}x${width}`;
  }
  if (input.data.length !== channels * height * width) {
    return `the preprocessed input has ${input.data.length} values, ${channels}x${height}x${width} needs ${channels * height * width}`;
  }
  return null;
}

function sliceRow(outputs: ModelOutputs, row: number): PassOutputs {
  const pass: PassOutputs = {};
  for (const [name, tensor] of Object.entries(outputs)) {
    const rowDims = tensor.dims.slice(1);
    const rowSize = rowDims.reduce((product, dim) => product * dim, 1);
    pass[name] = { data: tensor.data.subarray(row * rowSize, (row + 1) * rowSize), dims: rowDims };
  }
  return pass;
}
