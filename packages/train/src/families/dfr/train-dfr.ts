/**
 * DFR training (Shi et al. 2021, "Unsupervised anomaly segmentation via deep feature reconstruction"):
 * features of a frozen pretrained backbone are extracted once for the good images, the latent width
 * is chosen by PCA (or given), a 1x1-conv autoencoder learns to reconstruct the features (Adam, MSE),
 * and the full graph (backbone included) is saved as one TF.js model whose output is the feature
 * error map, with a model card calibrated on the held-out good images.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  anomalyMap,
  fitPositionStandardization,
  imageScore,
  MODEL_CARD_SCHEMA_VERSION,
  resizeMap,
  validateModelCard,
  type ImageScoreSpec,
  type ModelCard,
  type PositionStandardization,
  type PreprocessingSpec,
  RUN_BACKBONE_FILE,
  type RunBackboneFile,
  type ScoreSpec,
} from '@residuum/scoring';
import { initBackend, type BackendRequest } from '../../backend/index.js';
import { createRandom, shuffled } from '../../random.js';
import { calibrate, DEFAULT_THRESHOLD, GoodPixels, type ThresholdOption } from '../../training/calibration.js';
import { createDatasetSource, type NhwcBatch } from '../../training/data.js';
import { saveModelToDir, writeFileAtomic } from '../../training/model-io.js';
import { checkBackboneSpec, DEFAULT_BACKBONE, loadBackbone, type BackboneSpec } from './backbone.js';
import { buildDfrGraph, buildDfrHeadOnTaps, buildFeatureExtractor, buildVectorAutoencoder, autoencoderWidths, type DfrGraphShape, type FeatureStandardization } from './graph.js';
import { buildTapAggregator, OnnxTapExtractor, onnxBackbonePreprocessing, type OnnxBackboneSpec } from './onnx-backbone.js';
import { pcaLatentWidth } from './pca.js';
import { fractionIn, positiveInteger, trainerVersion, type RunDataOptions } from '../../training/options.js';

/** Run folder and data (see RunDataOptions; `dataSource` is built with `dfrPreprocessing`). */
export interface DfrTrainOptions extends RunDataOptions {
  /** Square input side, a multiple of 32 for MobileNet (default 224, the backbone's own size). */
  size?: number;
  /** 1 = grey (replicated to RGB in-graph) or 3 = RGB (default). */
  channels?: 1 | 3;
  /**
   * Default: MobileNet v1 0.75 shipped in models/backbones, taps conv_pw_1/3/5/11_relu (TF.js). An
   * OnnxBackboneSpec (ResNet-50 from `residuum backbone get resnet50`) runs in onnxruntime-node; the
   * run folder then holds the head (taps in) and backbone.json, and export splices the two.
   */
  backbone?: BackboneSpec | OnnxBackboneSpec;
  /** Side of the averaging cell on the common tap grid (default 4, as in DFR). */
  cell?: number;
  /**
   * Standardize each feature channel with the training mean/std before the autoencoder (default true):
   * raw MobileNet channels differ in scale, and without it the error is dominated by the loudest ones
   * (casting, 128 px, 300 images: image AUROC of the mean-map score 0.87 vs 0.81 after 3 epochs).
   */
  standardize?: boolean;
  /** Latent width; default: PCA keeping `varianceFraction` of the feature variance. */
  latent?: number;
  /** Default 0.9. */
  varianceFraction?: number;
  /** Autoencoder epochs over the sampled feature vectors (default 20; the best validation epoch is kept). */
  epochs?: number;
  /** Feature vectors per Adam step (default 512). */
  batch?: number;
  /** Adam learning rate (default 1e-3). */
  learningRate?: number;
  /** Cap on the training feature vectors kept in memory, sampled evenly over the images (default 65536). */
  maxTrainVectors?: number;
  /** Vectors the PCA covariance is computed from (default 8192). */
  pcaVectors?: number;
  /** Images per backbone forward pass (default 8). */
  featureBatch?: number;
  seed?: number;
  /** Held-out fraction of the normal images for validation and calibration (default 0.1). */
  validationSplit?: number;
  /** Image threshold (default DEFAULT_THRESHOLD: mean + 3 std of the validation scores). */
  threshold?: ThresholdOption;
  /** calibration.pixelThreshold: false-positive rate on good validation pixels (default 0.05). */
  pixelFpr?: number;
  /**
   * Normal training images on which the per-position mean and spread of the error map are fitted
   * (score.map.positionStandardization; default 500, 0 = off). Off suits parts that are not aligned.
   */
  positionStandardizationImages?: number;
  /** Image score from the map (default: top 1 % mean of the standardized map; mean without standardization). */
  imageScore?: ImageScoreSpec;
  /** Gaussian sigma (feature-grid cells) applied to the map before upsampling (default 0). */
  smoothingSigma?: number;
  /** Default 'auto' (tfjs-node when installed, else wasm). */
  backend?: BackendRequest;
  command?: string;
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface DfrEpochRecord {
  epoch: number;
  loss: number;
  valLoss: number;
  seconds: number;
}

export interface DfrTrainResult {
  runDir: string;
  cardPath: string;
  card: ModelCard;
  latentWidth: number;
  /** PCA: the variance fraction the chosen width keeps (when chosen by PCA). */
  pca?: { fraction: number; featureVectors: number; eigenvaluesTop: number[] };
  shape: DfrGraphShape;
  history: DfrEpochRecord[];
  bestEpoch: number;
  backend: string;
  timings: { totalMs: number; featureMs: number; pcaMs: number; trainMs: number; calibrationMs: number };
}

export const DFR_DEFAULTS = {
  size: 224,
  channels: 3 as 1 | 3,
  cell: 4,
  varianceFraction: 0.9,
  epochs: 20,
  batch: 512,
  learningRate: 1e-3,
  maxTrainVectors: 65536,
  pcaVectors: 8192,
  featureBatch: 8,
  seed: 42,
  validationSplit: 0.1,
  pixelFpr: 0.05,
  // Raw error maps are noisy at the same positions on every good image (borders: the backbone's zero
  // padding; part edges), so their max ranks images badly (casting 224 px: max 0.79, mean 0.93).
  // Standardizing each position against good images fixes that and lets the top 1 % decide
  // (casting 224 px: 0.983); without standardization the mean is the better score.
  positionStandardizationImages: 500,
  imageScore: { kind: 'top-k-mean', topKFraction: 0.01 } as ImageScoreSpec,
  imageScoreUnstandardized: { kind: 'mean' } as ImageScoreSpec,
  smoothingSigma: 0,
};

export const DFR_OUTPUT_NAME = 'feature_error';

/** The preprocessing DFR trains and runs with: fill-resize, bilinear, the backbone's normalization. */
export function dfrPreprocessing(size: number, channels: 1 | 3, backbone: BackboneSpec = DEFAULT_BACKBONE): PreprocessingSpec {
  return {
    width: size,
    height: size,
    channels,
    resize: 'fill',
    interpolation: 'bilinear',
    mean: new Array<number>(channels).fill(backbone.inputMean),
    std: new Array<number>(channels).fill(backbone.inputStd),
  };
}


function isOnnxBackbone(spec: BackboneSpec | OnnxBackboneSpec): spec is OnnxBackboneSpec {
  return typeof (spec as OnnxBackboneSpec).onnxPath === 'string';
}

/** One batch of preprocessed NHWC images -> one Float32Array (features or maps, batch-major). */
type BatchFunction = (batch: NhwcBatch) => Promise<Float32Array>;

function predictOf(model: tf.LayersModel, inputSize: number, channels: number): BatchFunction {
  return async (batch) => {
    const x = tf.tensor4d(batch.data, [batch.count, inputSize, inputSize, channels]);
    const output = model.predict(x) as tf.Tensor;
    const data = (await output.data()) as Float32Array;
    tf.dispose([x, output]);
    return data;
  };
}

/** Taps from onnxruntime, then a TF.js model that takes the taps (aggregation, or the whole head). */
function onnxThen(extractor: OnnxTapExtractor, model: tf.LayersModel): BatchFunction {
  return async (batch) => {
    const taps = await extractor.extract(batch.data, batch.count);
    const output = model.predict(taps) as tf.Tensor;
    const data = (await output.data()) as Float32Array;
    tf.dispose([output, ...taps]);
    return data;
  };
}

export function dfrScoreSpec(image: ImageScoreSpec = DFR_DEFAULTS.imageScore, smoothingSigma = 0): ScoreSpec {
  return { map: { kind: 'model-output', channelReduction: 'mean', smoothingSigma }, image };
}




/** Training feature vectors sampled from each image's grid positions (seeded), plus validation vectors. */
async function collectVectors(
  featuresOf: BatchFunction,
  batches: AsyncIterable<NhwcBatch>,
  shape: DfrGraphShape,
  perImage: number,
  capacity: number,
  seed: number,
): Promise<{ vectors: Float32Array; count: number; images: number }> {
  const { featureGrid, featureChannels: dim } = shape;
  const positions = featureGrid * featureGrid;
  const random = createRandom(seed);
  const vectors = new Float32Array(capacity * dim);
  let count = 0;
  let images = 0;
  const allPositions = Array.from({ length: positions }, (_, i) => i);
  for await (const batch of batches) {
    const data = await featuresOf(batch);
    for (let i = 0; i < batch.count; i++) {
      const chosen = perImage >= positions ? allPositions : shuffled(allPositions, random).slice(0, perImage);
      for (const p of chosen) {
        if (count >= capacity) break;
        const from = (i * positions + p) * dim;
        vectors.set(data.subarray(from, from + dim), count * dim);
        count++;
      }
      images++;
    }
  }
  return { vectors: vectors.subarray(0, count * dim), count, images };
}

/** Per-channel mean and std of the training vectors; std floored so dead (always-zero) channels stay finite. */
function channelStatistics(vectors: Float32Array, count: number, dim: number): FeatureStandardization {
  const sum = new Float64Array(dim);
  const squares = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < dim; c++) {
      const v = vectors[r * dim + c];
      sum[c] += v;
      squares[c] += v * v;
    }
  }
  const mean = new Float32Array(dim);
  const std = new Float32Array(dim);
  for (let c = 0; c < dim; c++) {
    mean[c] = sum[c] / count;
    std[c] = Math.sqrt(Math.max(0, squares[c] / count - (sum[c] / count) ** 2)) + STD_FLOOR;
  }
  return { mean, std };
}

const STD_FLOOR = 1e-3;

function standardizeInPlace(vectors: Float32Array, { mean, std }: FeatureStandardization): void {
  const dim = mean.length;
  for (let i = 0; i < vectors.length; i++) {
    const c = i % dim;
    vectors[i] = (vectors[i] - mean[c]) / std[c];
  }
}

async function meanSquaredError(model: tf.LayersModel, vectors: Float32Array, count: number, dim: number, batch: number): Promise<number> {
  let sum = 0;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const value = tf.tidy(() => {
      const x = tf.tensor2d(vectors.subarray(start * dim, (start + n) * dim), [n, dim]);
      const y = model.apply(x, { training: false }) as tf.Tensor;
      return tf.sum(tf.squaredDifference(y, x));
    });
    sum += (await value.data())[0];
    value.dispose();
  }
  return sum / (count * dim);
}

type DfrMapShape = { inputSize: number; channels: 1 | 3; featureGrid: number };

/** The graph's raw error maps (feature grid, before standardization and smoothing), one per image. */
async function* gridMapsOf(model: tf.LayersModel | BatchFunction, batches: AsyncIterable<NhwcBatch>, shape: DfrMapShape): AsyncGenerator<Float32Array> {
  const { inputSize, channels, featureGrid } = shape;
  const plane = featureGrid * featureGrid;
  const mapsOf = typeof model === 'function' ? model : predictOf(model, inputSize, channels);
  for await (const batch of batches) {
    const maps = await mapsOf(batch);
    for (let i = 0; i < batch.count; i++) yield maps.slice(i * plane, (i + 1) * plane);
  }
}

/** The raw error maps of the first `limit` images. */
async function dfrGridMaps(model: tf.LayersModel | BatchFunction, batches: AsyncIterable<NhwcBatch>, shape: DfrMapShape, limit: number): Promise<Float32Array[]> {
  const maps: Float32Array[] = [];
  for await (const map of gridMapsOf(model, batches, shape)) {
    maps.push(map);
    if (maps.length >= limit) break;
  }
  return maps;
}

/**
 * The calibration maps and scores of normal images, exactly as the runtimes compute them. `model`: the
 * full TF.js graph (image -> map), or a function giving a batch's maps (an ONNX backbone's head).
 */
export async function scoreDfrBatches(
  model: tf.LayersModel | BatchFunction,
  batches: AsyncIterable<NhwcBatch>,
  shape: DfrMapShape,
  score: ScoreSpec,
  onMap?: (map: Float32Array, index: number) => void,
): Promise<number[]> {
  const { inputSize, featureGrid } = shape;
  const scores: number[] = [];
  for await (const grid of gridMapsOf(model, batches, shape)) {
    // Same path as @residuum/inspection: reduce/standardize/smooth at the model's grid, then bilinear to the input size.
    const reduced = anomalyMap(new Float32Array(0), grid, 1, featureGrid, featureGrid, score.map);
    const map = resizeMap(reduced, inputSize, inputSize, featureGrid, featureGrid);
    onMap?.(map, scores.length);
    scores.push(imageScore(map, score.image));
  }
  return scores;
}

export async function trainDfr(options: DfrTrainOptions): Promise<DfrTrainResult> {
  const startedAt = Date.now();
  if (options == null || typeof options !== 'object') throw new Error('trainDfr: options object required');
  if (typeof options.out !== 'string' || options.out.trim() === '') throw new Error('trainDfr: out (the run folder) is required');
  if (options.data === undefined && options.dataSource === undefined) throw new Error('trainDfr: data (the dataset folder) or dataSource is required');
  const backboneSpec = options.backbone ?? DEFAULT_BACKBONE;
  if (!isOnnxBackbone(backboneSpec)) checkBackboneSpec(backboneSpec);
  const size = positiveInteger(options.size, 'size', DFR_DEFAULTS.size, 'trainDfr: ');
  const channels = options.channels ?? DFR_DEFAULTS.channels;
  if (channels !== 1 && channels !== 3) throw new Error(`trainDfr: channels must be 1 or 3, got ${String(channels)}`);
  const cell = positiveInteger(options.cell, 'cell', DFR_DEFAULTS.cell, 'trainDfr: ');
  const epochs = positiveInteger(options.epochs, 'epochs', DFR_DEFAULTS.epochs, 'trainDfr: ');
  const batch = positiveInteger(options.batch, 'batch', DFR_DEFAULTS.batch, 'trainDfr: ');
  const maxTrainVectors = positiveInteger(options.maxTrainVectors, 'maxTrainVectors', DFR_DEFAULTS.maxTrainVectors, 'trainDfr: ');
  const pcaVectors = positiveInteger(options.pcaVectors, 'pcaVectors', DFR_DEFAULTS.pcaVectors, 'trainDfr: ');
  const featureBatch = positiveInteger(options.featureBatch, 'featureBatch', DFR_DEFAULTS.featureBatch, 'trainDfr: ');
  const seed = options.seed ?? DFR_DEFAULTS.seed;
  if (!Number.isInteger(seed)) throw new Error(`trainDfr: seed must be an integer, got ${String(seed)}`);
  const varianceFraction = options.varianceFraction ?? DFR_DEFAULTS.varianceFraction;
  if (!(varianceFraction > 0 && varianceFraction <= 1)) throw new Error(`trainDfr: varianceFraction must be in (0, 1], got ${varianceFraction}`);
  const validationSplit = fractionIn(options.validationSplit, 'validationSplit', DFR_DEFAULTS.validationSplit, 0, 1, 'trainDfr: ');
  const pixelFpr = fractionIn(options.pixelFpr, 'pixelFpr', DFR_DEFAULTS.pixelFpr, 0, 1, 'trainDfr: ');
  const learningRate = options.learningRate ?? DFR_DEFAULTS.learningRate;
  if (!(learningRate > 0 && Number.isFinite(learningRate))) throw new Error(`trainDfr: learningRate must be a positive number, got ${learningRate}`);
  if (options.latent !== undefined) positiveInteger(options.latent, 'latent', 1, 'trainDfr: ');
  const smoothingSigma = options.smoothingSigma ?? DFR_DEFAULTS.smoothingSigma;
  if (!(smoothingSigma >= 0)) throw new Error(`trainDfr: smoothingSigma must be >= 0, got ${smoothingSigma}`);
  const positionImages = options.positionStandardizationImages ?? DFR_DEFAULTS.positionStandardizationImages;
  if (!Number.isInteger(positionImages) || positionImages < 0 || positionImages === 1) {
    throw new Error(`trainDfr: positionStandardizationImages must be 0 (off) or an integer >= 2, got ${String(positionImages)}`);
  }
  const score = dfrScoreSpec(options.imageScore ?? (positionImages > 0 ? DFR_DEFAULTS.imageScore : DFR_DEFAULTS.imageScoreUnstandardized), smoothingSigma);
  const log = options.quiet ? () => undefined : (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)));

  const selection = await initBackend(options.backend ?? 'auto');
  log(`backend: ${selection.backend} (${selection.reason})`);
  if (isOnnxBackbone(backboneSpec) && channels !== 3) {
    throw new Error(`trainDfr: the ONNX backbone ${backboneSpec.name} takes RGB input: use channels 3 (grey images are replicated to RGB when decoded)`);
  }
  const preprocessing = isOnnxBackbone(backboneSpec) ? onnxBackbonePreprocessing(backboneSpec, size) : dfrPreprocessing(size, channels, backboneSpec);
  const source =
    options.dataSource ??
    (await createDatasetSource({ root: options.data as string, layout: options.layout, normalDirs: options.normalDir, preprocessing, validationFraction: validationSplit, seed, log }));
  const runDir = resolve(options.out);
  await mkdir(runDir, { recursive: true });

  const stage = await openFeatureStage(backboneSpec, size, channels, cell);
  const shape = stage.shape;
  const dim = shape.featureChannels;
  const positions = shape.featureGrid * shape.featureGrid;
  log(`DFR: ${stage.description}, taps ${backboneSpec.taps.join(', ')} -> ${shape.featureGrid}x${shape.featureGrid} x ${dim} features`);

  const featureStart = Date.now();
  const perImage = Math.max(1, Math.min(positions, Math.ceil(maxTrainVectors / Math.max(1, source.trainCount))));
  const train = await collectVectors(stage.features, source.trainBatches(featureBatch, 0), shape, perImage, Math.min(maxTrainVectors, source.trainCount * perImage), seed);
  const validation = await collectVectors(
    stage.features,
    source.validationBatches(featureBatch),
    shape,
    positions,
    Math.max(1, source.validationCount) * positions,
    seed + 1,
  );
  if (train.count < 2) throw new Error(`trainDfr: ${source.description}: too few training feature vectors (${train.count})`);
  if (validation.count === 0) throw new Error(`trainDfr: ${source.description}: no validation images could be read`);
  let standardization: FeatureStandardization | undefined;
  if (options.standardize ?? true) {
    standardization = channelStatistics(train.vectors, train.count, dim);
    standardizeInPlace(train.vectors, standardization);
    standardizeInPlace(validation.vectors, standardization);
  }
  const featureMs = Date.now() - featureStart;
  log(`features: ${train.count} training vectors from ${train.images} images, ${validation.images} validation images (${(featureMs / 1000).toFixed(1)} s)`);

  const pcaStart = Date.now();
  let latentWidth: number;
  let pca: DfrTrainResult['pca'];
  if (options.latent !== undefined) {
    latentWidth = options.latent;
  } else {
    const step = Math.max(1, Math.floor(train.count / pcaVectors));
    const sampleCount = Math.floor((train.count - 1) / step) + 1;
    const sample = new Float32Array(sampleCount * dim);
    for (let i = 0; i < sampleCount; i++) sample.set(train.vectors.subarray(i * step * dim, (i * step + 1) * dim), i * dim);
    const result = pcaLatentWidth(sample, sampleCount, dim, varianceFraction);
    latentWidth = result.width;
    pca = { fraction: varianceFraction, featureVectors: sampleCount, eigenvaluesTop: Array.from(result.eigenvalues.subarray(0, 10)) };
  }
  const pcaMs = Date.now() - pcaStart;
  log(`latent width ${latentWidth}${pca ? ` (PCA: ${varianceFraction} of the variance, ${pca.featureVectors} vectors)` : ' (given)'}; autoencoder ${dim} -> ${autoencoderWidths(dim, latentWidth).join(' -> ')}`);

  const trainStart = Date.now();
  const autoencoder = buildVectorAutoencoder(dim, latentWidth, seed);
  const optimizer = tf.train.adam(learningRate);
  const random = createRandom(seed + 2);
  const history: DfrEpochRecord[] = [];
  let best = { valLoss: Infinity, epoch: 0, weights: [] as tf.Tensor[] };
  const order = Array.from({ length: train.count }, (_, i) => i);
  const batchData = new Float32Array(batch * dim);
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const epochStart = Date.now();
    const shuffledOrder = shuffled(order, random);
    let lossSum = 0;
    let seen = 0;
    for (let start = 0; start < train.count; start += batch) {
      const n = Math.min(batch, train.count - start);
      // A lone last vector would make BatchNormalization's batch variance 0: skip it.
      if (n < 2) break;
      for (let i = 0; i < n; i++) {
        const from = shuffledOrder[start + i] * dim;
        batchData.set(train.vectors.subarray(from, from + dim), i * dim);
      }
      const x = tf.tensor2d(batchData.subarray(0, n * dim), [n, dim]);
      const loss = optimizer.minimize(() => tf.mean(tf.squaredDifference(autoencoder.apply(x, { training: true }) as tf.Tensor, x)) as tf.Scalar, true);
      lossSum += (await (loss as tf.Scalar).data())[0] * n;
      seen += n;
      tf.dispose([x, loss as tf.Scalar]);
    }
    const loss = lossSum / Math.max(1, seen);
    const valLoss = await meanSquaredError(autoencoder, validation.vectors, validation.count, dim, 4096);
    if (!Number.isFinite(loss) || !Number.isFinite(valLoss)) throw new Error(`trainDfr: training diverged at epoch ${epoch} (loss ${loss}, validation ${valLoss}); lower the learning rate (--lr)`);
    history.push({ epoch, loss, valLoss, seconds: (Date.now() - epochStart) / 1000 });
    log(`epoch ${epoch}/${epochs}: loss ${loss.toPrecision(4)}, val ${valLoss.toPrecision(4)}, ${((Date.now() - epochStart) / 1000).toFixed(1)} s`);
    if (valLoss < best.valLoss) {
      tf.dispose(best.weights);
      best = { valLoss, epoch, weights: autoencoder.getWeights().map((w) => w.clone()) };
    }
  }
  autoencoder.setWeights(best.weights);
  tf.dispose(best.weights);
  optimizer.dispose();
  const trainMs = Date.now() - trainStart;

  const calibrationStart = Date.now();
  const full = stage.head(autoencoder, standardization);
  await saveModelToDir(full.model, runDir);
  if (isOnnxBackbone(backboneSpec)) {
    const file: RunBackboneFile = { kind: 'onnx', name: backboneSpec.name, onnxPath: resolve(backboneSpec.onnxPath), sha256: await sha256Of(backboneSpec.onnxPath), taps: [...backboneSpec.taps] };
    await writeFileAtomic(join(runDir, RUN_BACKBONE_FILE), JSON.stringify(file, null, 2));
  }
  let positionStats: PositionStandardization | undefined;
  if (positionImages > 0) {
    const maps = await dfrGridMaps(full.maps, source.trainBatches(featureBatch, 0), shape, positionImages);
    positionStats = fitPositionStandardization(maps, shape.featureGrid, shape.featureGrid, `${maps.length} normal training images`);
    score.map.positionStandardization = positionStats;
    log(`position standardization fitted on ${maps.length} training images (${shape.featureGrid}x${shape.featureGrid} map)`);
  }
  const goodPixels = new GoodPixels();
  const scores = await scoreDfrBatches(full.maps, source.validationBatches(featureBatch), shape, score, goodPixels.add);
  const { calibration, threshold } = calibrate(scores, options.threshold ?? DEFAULT_THRESHOLD, `validation split of the normal training images (${scores.length})`, goodPixels, pixelFpr);
  const calibrationMs = Date.now() - calibrationStart;

  const card: ModelCard = {
    schemaVersion: MODEL_CARD_SCHEMA_VERSION,
    family: 'dfr',
    name: `dfr-${backboneSpec.name ?? 'backbone'}-${size}px-${channels === 1 ? 'grey' : 'rgb'}`,
    description: `DFR (deep feature reconstruction) on ${stage.description} features, trained on ${source.description}`,
    preprocessing,
    input: { name: 'input', layout: 'NCHW', shape: ['N', channels, size, size] },
    outputs: [
      {
        name: DFR_OUTPUT_NAME,
        meaning: 'feature-error-map',
        shape: ['N', 1, shape.featureGrid, shape.featureGrid],
        description: `mean over the ${dim} feature channels of (feature - reconstruction)^2 on the ${shape.featureGrid}x${shape.featureGrid} feature grid; upsample bilinearly to the input`,
      },
    ],
    score,
    threshold,
    calibration,
    training: {
      dataFingerprint: await source.fingerprint(),
      dataDescription: source.description,
      imageCount: source.trainCount + source.validationCount,
      epochs: history.length,
      seed,
      backend: selection.backend,
      loss: 'mse on backbone features (autoencoder only; backbone frozen)',
      ...(options.command ? { command: options.command } : {}),
    },
    createdAt: new Date().toISOString(),
    producer: { trainer: await trainerVersion() },
    extras: {
      dfr: {
        backbone: isOnnxBackbone(backboneSpec)
          ? { name: backboneSpec.name, onnx: resolve(backboneSpec.onnxPath), runtime: 'onnxruntime-node (spliced into the exported file)' }
          : { name: backboneSpec.name ?? null, dir: backboneSpec.dir, inputMean: backboneSpec.inputMean, inputStd: backboneSpec.inputStd },
        taps: backboneSpec.taps,
        tapChannels: shape.tapChannels,
        tapGrid: shape.tapGrid,
        cell,
        featureGrid: shape.featureGrid,
        featureChannels: dim,
        standardized: standardization !== undefined,
        latentWidth,
        latentChoice: pca ? `PCA keeping ${varianceFraction} of the feature variance (${pca.featureVectors} vectors)` : 'given',
        autoencoderWidths: autoencoderWidths(dim, latentWidth),
        trainVectors: train.count,
        vectorsPerImage: perImage,
        bestEpoch: best.epoch,
        bestValLoss: best.valLoss,
        pixelThreshold: { fpr: pixelFpr, on: `${scores.length * size * size} good validation pixels (map upsampled to the input)` },
        whyErrorMapOutput:
          'The graph outputs the per-position feature error itself, not the two feature maps: one small [N,1,h,w] output instead of two [N,C,h,w] ones (C = ' +
          `${dim}), so far less data leaves the runtime, and the scorer stays the same as for every family (kind 'model-output': reduce, upsample, image score).`,
      },
      skippedFiles: source.skipped(),
    },
  };
  const cardPath = join(runDir, 'model-card.json');
  const validCard = validateModelCard(card);
  await writeFileAtomic(cardPath, JSON.stringify(validCard, null, 2));
  await writeFile(join(runDir, 'history.json'), JSON.stringify({ family: 'dfr', status: 'completed', bestEpoch: best.epoch, bestValLoss: best.valLoss, history }, null, 2));
  log(`model and card written to ${runDir} (threshold ${threshold.value.toPrecision(4)}, pixel threshold ${calibration.pixelThreshold?.toPrecision(4) ?? "none"})`);

  full.model.dispose();
  autoencoder.dispose();
  await stage.dispose();
  return {
    runDir,
    cardPath,
    card: validCard,
    latentWidth,
    ...(pca ? { pca } : {}),
    shape,
    history,
    bestEpoch: best.epoch,
    backend: selection.backend,
    timings: { totalMs: Date.now() - startedAt, featureMs, pcaMs, trainMs, calibrationMs },
  };
}

async function sha256Of(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Where DFR's features come from: a TF.js backbone (one graph) or an ONNX backbone in onnxruntime-node (taps + TF.js head). */
interface FeatureStage {
  description: string;
  shape: DfrGraphShape;
  features: BatchFunction;
  /** The model the run folder saves, and the maps of a batch as the exported file computes them. */
  head(autoencoder: tf.LayersModel, standardization?: FeatureStandardization): { model: tf.LayersModel; maps: BatchFunction };
  dispose(): Promise<void>;
}

async function openFeatureStage(spec: BackboneSpec | OnnxBackboneSpec, size: number, channels: 1 | 3, cell: number): Promise<FeatureStage> {
  if (isOnnxBackbone(spec)) {
    const extractor = await OnnxTapExtractor.open(spec, size);
    const aggregator = buildTapAggregator(extractor.taps, cell, size);
    return {
      description: `${spec.name} (ONNX, onnxruntime-node)`,
      shape: aggregator.shape,
      features: onnxThen(extractor, aggregator.model),
      head(autoencoder, standardization) {
        const head = buildDfrHeadOnTaps(extractor.taps, size, cell, autoencoder, standardization);
        return { model: head.model, maps: onnxThen(extractor, head.model) };
      },
      async dispose() {
        aggregator.model.dispose();
        await extractor.dispose();
      },
    };
  }
  const backbone = await loadBackbone(spec);
  const extractor = buildFeatureExtractor(backbone, spec.taps, size, channels, cell);
  return {
    description: spec.name ?? spec.dir,
    shape: extractor.shape,
    features: predictOf(extractor.model, size, channels),
    head(autoencoder, standardization) {
      const full = buildDfrGraph(backbone, spec.taps, size, channels, cell, autoencoder, standardization);
      return { model: full.model, maps: predictOf(full.model, size, channels) };
    },
    async dispose() {
      extractor.model.dispose();
      backbone.dispose();
    },
  };
}
