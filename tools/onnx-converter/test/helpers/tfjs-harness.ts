/**
 * Parity harness: TF.js model on the cpu backend with seeded random weights -> tf.io
 * artifacts in memory -> convertLayersModel -> onnxruntime-node and onnxruntime-web,
 * compared with model.predict.
 */
import * as tf from '@tensorflow/tfjs';
import { createSeededRandom } from '@residuum/scoring';
import { convertLayersModel, type ConversionResult, type ConvertOptions } from '../../src/index.js';
import { expectValidOnnx } from './onnx-checker.js';
import { type Feeds, type FloatTensor, runOrtNode, runOrtWeb } from './runtimes.js';

export { tf };

export async function useCpuBackend(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** mulberry32, scoring's (the MC-Dropout masks' generator): small, seeded, deterministic. */
export const seededRandom = createSeededRandom;

export function randomArray(length: number, random: () => number, low = -1, high = 1): Float32Array {
  return Float32Array.from({ length }, () => low + (high - low) * random());
}

/**
 * Sets weights to seeded random values; BN statistics and scales get plausible non-trivial
 * ranges. `keepKernels` leaves kernels and biases as the model's initializers made them (so
 * activations keep a realistic scale in wide, deep models) and randomizes only BN.
 */
export function randomizeWeights(model: tf.LayersModel, seed: number, options: { keepKernels?: boolean } = {}): void {
  const random = seededRandom(seed);
  for (const layer of model.layers) {
    const current = layer.getWeights();
    if (current.length === 0) continue;
    const names = layer.weights.map((w) => w.originalName ?? w.name);
    const next = current.map((w, i) => {
      const name = names[i];
      if (options.keepKernels && !/moving_variance|moving_mean|gamma|beta/.test(name)) return w.clone();
      const size = w.size;
      let values: Float32Array;
      if (/moving_variance/.test(name)) values = randomArray(size, random, 0.3, 2);
      else if (/gamma/.test(name)) values = randomArray(size, random, 0.5, 1.5);
      else if (/moving_mean|beta/.test(name)) values = randomArray(size, random, -0.5, 0.5);
      else values = randomArray(size, random, -0.5, 0.5);
      return tf.tensor(values, w.shape, 'float32');
    });
    layer.setWeights(next);
    next.forEach((t) => t.dispose());
  }
}

export interface ModelArtifactsInMemory {
  modelJson: { modelTopology: unknown; weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>; format: string };
  weights: Uint8Array;
}

export async function saveToMemory(model: tf.LayersModel): Promise<ModelArtifactsInMemory> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts?.weightSpecs || artifacts.weightData === undefined) throw new Error('model.save produced no weights');
  const parts = Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData];
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const weights = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    weights.set(new Uint8Array(part), offset);
    offset += part.byteLength;
  }
  return {
    modelJson: { modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }], format: 'layers-model' },
    weights,
  };
}

export function nhwcToNchw(data: Float32Array | Int32Array | Uint8Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b += 1)
    for (let y = 0; y < h; y += 1)
      for (let x = 0; x < w; x += 1)
        for (let k = 0; k < c; k += 1) out[((b * c + k) * h + y) * w + x] = data[((b * h + y) * w + x) * c + k];
  return out;
}

/** TF.js output (NHWC for rank 4) in the graph's physical layout. */
export function tfOutputAsOnnx(tensor: tf.Tensor): FloatTensor {
  const data = tensor.dataSync() as Float32Array;
  if (tensor.rank !== 4) return { data: Float32Array.from(data), dims: tensor.shape };
  const [n, h, w, c] = tensor.shape;
  return { data: nhwcToNchw(data, tensor.shape), dims: [n, c, h, w] };
}

export function maxAbsDiff(a: FloatTensor, b: FloatTensor): number {
  if (a.dims.join(',') !== b.dims.join(',')) throw new Error(`shape mismatch: ${JSON.stringify(a.dims)} vs ${JSON.stringify(b.dims)}`);
  let max = 0;
  for (let i = 0; i < a.data.length; i += 1) {
    const d = Math.abs(a.data[i] - b.data[i]);
    if (!(d <= max)) max = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return max;
}

export interface ParityResult {
  conversion: ConversionResult;
  /** Per output: max |onnxruntime-node - tf.predict|. */
  nodeDiff: Record<string, number>;
  /** Per output: max |onnxruntime-web - onnxruntime-node|. */
  webVsNodeDiff: Record<string, number>;
  /** Per output: max |onnxruntime-web - tf.predict|. */
  webDiff: Record<string, number>;
}

export interface ParityOptions {
  batch?: number;
  seed?: number;
  convert?: Omit<ConvertOptions, 'modelJson' | 'weights'>;
  /** Skip onnxruntime-web (only for helpers that run it separately). */
  web?: boolean;
}

/** Converts `model`, validates it with the ONNX checker, runs both runtimes and compares with predict. */
export async function checkParity(model: tf.LayersModel, options: ParityOptions = {}): Promise<ParityResult> {
  const artifacts = await saveToMemory(model);
  const conversion = convertLayersModel({ ...artifacts, ...options.convert });
  return compareWithPredict(model, conversion, options);
}

/** Feeds for a converted model: seeded random input (NHWC and NCHW copies) and masks of 1.0. */
export function parityFeeds(model: tf.LayersModel, conversion: ConversionResult, batch: number, seed: number): { feeds: Feeds; inputNhwc: Float32Array; inputShape: number[] } {
  const inputShape = [batch, ...(model.inputs[0].shape.slice(1) as number[])];
  const random = seededRandom(seed * 7919 + 1);
  const inputNhwc = randomArray(inputShape.reduce((a, b) => a * b, 1), random);
  const feeds: Feeds = { input: { data: nhwcToNchw(inputNhwc, inputShape), dims: [batch, inputShape[3], inputShape[1], inputShape[2]] } };
  for (const mask of conversion.report.mcMaskInputs) {
    const dims = mask.shape.map((d) => (d === 'N' ? batch : d));
    feeds[mask.name] = { data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(1), dims };
  }
  return { feeds, inputNhwc, inputShape };
}

/** Validates already converted bytes and compares both runtimes with model.predict. */
export async function compareWithPredict(model: tf.LayersModel, conversion: ConversionResult, options: ParityOptions = {}): Promise<ParityResult> {
  const batch = options.batch ?? 2;
  const seed = options.seed ?? 7;
  expectValidOnnx(conversion.onnx);
  const { feeds, inputNhwc, inputShape } = parityFeeds(model, conversion, batch, seed);
  const inputTensor = tf.tensor(inputNhwc, inputShape);
  const rawPrediction = model.predict(inputTensor);
  const predictedTensors = Array.isArray(rawPrediction) ? rawPrediction : [rawPrediction];
  const predicted = predictedTensors.map(tfOutputAsOnnx);
  tf.dispose([inputTensor, ...predictedTensors]);
  const nodeOut = await runOrtNode(conversion.onnx, feeds);
  const webOut = options.web === false ? undefined : await runOrtWeb(conversion.onnx, feeds);
  const result: ParityResult = { conversion, nodeDiff: {}, webVsNodeDiff: {}, webDiff: {} };
  // The scoring head's map (appended last) has no predict counterpart; scoring-head.test.ts checks it.
  conversion.report.outputs.filter((output) => output.name !== 'anomaly_map').forEach((output, i) => {
    result.nodeDiff[output.name] = maxAbsDiff(nodeOut[output.name], predicted[i]);
    if (webOut) {
      result.webDiff[output.name] = maxAbsDiff(webOut[output.name], predicted[i]);
      result.webVsNodeDiff[output.name] = maxAbsDiff(webOut[output.name], nodeOut[output.name]);
    }
  });
  return result;
}

export function worst(diffs: Record<string, number>): number {
  const values = Object.values(diffs);
  if (values.length === 0) throw new Error('no outputs compared');
  return Math.max(...values);
}
