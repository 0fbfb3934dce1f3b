/**
 * DFR training (Shi et al. 2021, "Unsupervised anomaly segmentation via deep feature reconstruction"):
 * features of a frozen pretrained backbone are extracted once for the good images, the latent width
 * is chosen by PCA (or given), a 1x1-conv autoencoder learns to reconstruct the features (Adam, MSE),
 * and the full graph (backbone included) is saved as one TF.js model whose output is the feature
 * error map, with a model card calibrated on the held-out good images.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  fitPositionStandardization,
  scoreImageOutputs,
  type ImageScoreSpec,
  type ModelCard,
  type OutputSpec,
  type PreprocessingSpec,
  type ScoreSpec,
} from '@residuum/scoring';
import { createRandom, shuffled } from '../../random.js';
import { runRecipe, squarePreprocessing, type EpochOutcome, type FamilyTraining, type FinishedModel, type RecipeOptions, type StepReport, type TrainingEnvironment, type TrainingFamily } from '../../recipe/recipe.js';
import { writeRunBackbone } from '../../run-folder/index.js';
import type { NhwcBatch } from '../../training/data.js';
import { saveModelToDir } from '../../training/model-io.js';
import { checkBackboneSpec, DEFAULT_BACKBONE, loadBackbone, type BackboneSpec } from './backbone.js';
import { buildDfrGraph, buildDfrHeadOnTaps, buildFeatureExtractor, buildVectorAutoencoder, autoencoderWidths, type DfrGraphShape, type FeatureStandardization } from './graph.js';
import { buildTapAggregator, OnnxTapExtractor, onnxBackbonePreprocessing, predictOnTaps, type OnnxBackboneSpec } from './onnx-backbone.js';
import { pcaLatentWidth } from './pca.js';
import { DFR_SPLICED_FILE_BUDGET_BYTES, latentCapForBudget, megabytes, varianceKept, type LatentCap } from './latent-budget.js';
import { fractionIn, positiveInteger } from '../../training/options.js';

/** Run folder and data (see RunDataOptions; `dataSource` is built with `dfrPreprocessing`). */
export interface DfrTrainOptions extends RecipeOptions {
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
  /**
   * Latent width, 1 .. the feature channels; default: PCA keeping `varianceFraction` of the feature
   * variance. With an ONNX backbone either is capped by `maxFileBytes` (a given width over the cap is an error).
   */
  latent?: number;
  /**
   * ONNX backbone only: the float32 bytes the exported file (backbone + head) may take; the latent width
   * is capped so that the head fits (default DFR_SPLICED_FILE_BUDGET_BYTES, 56 MB: fp16 storage 28 MB).
   */
  maxFileBytes?: number;
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
}

export interface DfrEpochRecord {
  epoch: number;
  loss: number;
  valLoss: number;
  seconds: number;
}

export interface DfrTrainResult {
  runDir: string;
  /** False when stopped (Ctrl-C / signal); the card is then written only when an epoch had finished (training.interrupted). */
  completed: boolean;
  interrupted: boolean;
  cardPath?: string;
  card?: ModelCard;
  latentWidth: number;
  /**
   * PCA (when it chose the width): the variance fraction asked for, the width that needs
   * (`wantedWidth`) and the fraction the used width keeps (`varianceKept`: less than `fraction` when capped).
   */
  pca?: { fraction: number; featureVectors: number; eigenvaluesTop: number[]; wantedWidth: number; varianceKept: number };
  /** ONNX backbone: the widest latent the file budget allows, and whether it cut PCA's width. */
  latentCap?: LatentCap & { capped: boolean };
  shape: DfrGraphShape;
  history: DfrEpochRecord[];
  bestEpoch: number;
  backend: string;
  timings: { totalMs: number; featureMs: number; pcaMs: number; trainMs: number; calibrationMs: number; imagesPerSecond: number };
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
  return squarePreprocessing(size, channels, backbone.inputMean, backbone.inputStd);
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
  return (batch) => predictOnTaps(extractor, model, batch);
}

export function dfrScoreSpec(image: ImageScoreSpec = DFR_DEFAULTS.imageScore, smoothingSigma = 0): ScoreSpec {
  return { map: { kind: 'model-output', channelReduction: 'mean', smoothingSigma }, image };
}




/** Training feature vectors sampled from each image's grid positions (seeded), plus validation vectors. */
export async function collectVectors(
  featuresOf: BatchFunction,
  batches: AsyncIterable<NhwcBatch>,
  shape: Pick<DfrGraphShape, 'featureGrid' | 'featureChannels'>,
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
  const { inputSize, channels, featureGrid } = shape;
  const card = { outputs: dfrOutputs(featureGrid), score };
  // The model's own map: scoreImageOutputs reads no input pixels, only the input's size.
  const input = { data: new Float32Array(0), channels, height: inputSize, width: inputSize };
  const scores: number[] = [];
  for await (const grid of gridMapsOf(model, batches, shape)) {
    const { map, score: imageScore } = scoreImageOutputs(card, input, [{ [DFR_OUTPUT_NAME]: { data: grid, dims: [1, featureGrid, featureGrid] } }]);
    onMap?.(map, scores.length);
    scores.push(imageScore);
  }
  return scores;
}

/** The card's outputs: the graph's one output, the feature error map on the feature grid. */
function dfrOutputs(featureGrid: number, featureChannels?: number): OutputSpec[] {
  const over = featureChannels === undefined ? 'the feature channels' : `the ${featureChannels} feature channels`;
  return [
    {
      name: DFR_OUTPUT_NAME,
      meaning: 'feature-error-map',
      shape: ['N', 1, featureGrid, featureGrid],
      description: `mean over ${over} of (feature - reconstruction)^2 on the ${featureGrid}x${featureGrid} feature grid; upsample bilinearly to the input`,
    },
  ];
}

interface DfrSettings {
  backbone: BackboneSpec | OnnxBackboneSpec;
  size: number;
  channels: 1 | 3;
  cell: number;
  epochs: number;
  batch: number;
  maxTrainVectors: number;
  pcaVectors: number;
  featureBatch: number;
  varianceFraction: number;
  pixelFpr: number;
  learningRate: number;
  smoothingSigma: number;
  positionImages: number;
  maxFileBytes: number;
}

const OWNER = 'trainDfr: ';

function dfrSettings(options: DfrTrainOptions): DfrSettings {
  const backbone = options.backbone ?? DEFAULT_BACKBONE;
  if (!isOnnxBackbone(backbone)) checkBackboneSpec(backbone);
  const channels = options.channels ?? DFR_DEFAULTS.channels;
  if (channels !== 1 && channels !== 3) throw new Error(`${OWNER}channels must be 1 or 3, got ${String(channels)}`);
  if (isOnnxBackbone(backbone) && channels !== 3) {
    throw new Error(`${OWNER}the ONNX backbone ${backbone.name} takes RGB input: use channels 3 (grey images are replicated to RGB when decoded)`);
  }
  const varianceFraction = options.varianceFraction ?? DFR_DEFAULTS.varianceFraction;
  if (!(varianceFraction > 0 && varianceFraction <= 1)) throw new Error(`${OWNER}varianceFraction must be in (0, 1], got ${varianceFraction}`);
  const learningRate = options.learningRate ?? DFR_DEFAULTS.learningRate;
  if (!(learningRate > 0 && Number.isFinite(learningRate))) throw new Error(`${OWNER}learningRate must be a positive number, got ${learningRate}`);
  if (options.latent !== undefined) positiveInteger(options.latent, 'latent', 1, OWNER);
  if (options.maxFileBytes !== undefined) {
    if (!isOnnxBackbone(backbone)) throw new Error(`${OWNER}maxFileBytes applies to an ONNX backbone only (the exported file is backbone + head); this run uses the TF.js backbone ${backbone.name ?? backbone.dir}`);
    positiveInteger(options.maxFileBytes, 'maxFileBytes', 1, OWNER);
  }
  const smoothingSigma = options.smoothingSigma ?? DFR_DEFAULTS.smoothingSigma;
  if (!(smoothingSigma >= 0)) throw new Error(`${OWNER}smoothingSigma must be >= 0, got ${smoothingSigma}`);
  const positionImages = options.positionStandardizationImages ?? DFR_DEFAULTS.positionStandardizationImages;
  if (!Number.isInteger(positionImages) || positionImages < 0 || positionImages === 1) {
    throw new Error(`${OWNER}positionStandardizationImages must be 0 (off) or an integer >= 2, got ${String(positionImages)}`);
  }
  return {
    backbone,
    size: positiveInteger(options.size, 'size', DFR_DEFAULTS.size, OWNER),
    channels,
    cell: positiveInteger(options.cell, 'cell', DFR_DEFAULTS.cell, OWNER),
    epochs: positiveInteger(options.epochs, 'epochs', DFR_DEFAULTS.epochs, OWNER),
    batch: positiveInteger(options.batch, 'batch', DFR_DEFAULTS.batch, OWNER),
    maxTrainVectors: positiveInteger(options.maxTrainVectors, 'maxTrainVectors', DFR_DEFAULTS.maxTrainVectors, OWNER),
    pcaVectors: positiveInteger(options.pcaVectors, 'pcaVectors', DFR_DEFAULTS.pcaVectors, OWNER),
    featureBatch: positiveInteger(options.featureBatch, 'featureBatch', DFR_DEFAULTS.featureBatch, OWNER),
    varianceFraction,
    pixelFpr: fractionIn(options.pixelFpr, 'pixelFpr', DFR_DEFAULTS.pixelFpr, 0, 1, OWNER),
    learningRate,
    smoothingSigma,
    positionImages,
    maxFileBytes: options.maxFileBytes ?? DFR_SPLICED_FILE_BUDGET_BYTES,
  };
}

interface DfrExtra {
  latentWidth: number;
  pca?: DfrTrainResult['pca'];
  latentCap?: DfrTrainResult['latentCap'];
  shape: DfrGraphShape;
  history: DfrEpochRecord[];
  featureMs: number;
  pcaMs: number;
}

/** DFR as a recipe family: features and PCA in `plan`, one stage of autoencoder epochs over the feature vectors. */
export const dfrFamily: TrainingFamily<DfrTrainOptions, DfrExtra> = {
  family: 'dfr',
  check: (options) => void dfrSettings(options),
  preprocessing(options) {
    const { backbone, size, channels } = dfrSettings(options);
    return isOnnxBackbone(backbone) ? onnxBackbonePreprocessing(backbone, size) : dfrPreprocessing(size, channels, backbone);
  },
  plan: planDfr,
};

async function planDfr(options: DfrTrainOptions, env: TrainingEnvironment): Promise<FamilyTraining<DfrExtra>> {
  const settings = dfrSettings(options);
  const { backbone: backboneSpec, size, channels, cell, batch, featureBatch, maxTrainVectors, varianceFraction, positionImages } = settings;
  const { source, seed, log } = env;
  const score = dfrScoreSpec(options.imageScore ?? (positionImages > 0 ? DFR_DEFAULTS.imageScore : DFR_DEFAULTS.imageScoreUnstandardized), settings.smoothingSigma);
  const stage = await openFeatureStage(backboneSpec, size, channels, cell);
  const shape = stage.shape;
  const dim = shape.featureChannels;
  const positions = shape.featureGrid * shape.featureGrid;
  log(`DFR: ${stage.description}, taps ${backboneSpec.taps.join(', ')} -> ${shape.featureGrid}x${shape.featureGrid} x ${dim} features`);
  let cap: LatentCap | undefined;
  try {
    cap = isOnnxBackbone(backboneSpec) ? await latentCapOf(backboneSpec, dim, settings.maxFileBytes) : undefined;
    checkGivenLatent(options.latent, dim, cap);
  } catch (error) {
    await stage.dispose();
    throw error;
  }

  const featureStart = Date.now();
  const perImage = Math.max(1, Math.min(positions, Math.ceil(maxTrainVectors / Math.max(1, source.trainCount))));
  let train: Awaited<ReturnType<typeof collectVectors>>;
  let validation: Awaited<ReturnType<typeof collectVectors>>;
  try {
    train = await collectVectors(stage.features, env.untilStopped(source.trainBatches(featureBatch, 0)), shape, perImage, Math.min(maxTrainVectors, source.trainCount * perImage), seed);
    validation = await collectVectors(stage.features, env.untilStopped(source.validationBatches(featureBatch)), shape, positions, Math.max(1, source.validationCount) * positions, seed + 1);
    if (train.count < 2 && !env.stopRequested()) throw new Error(`${OWNER}${source.description}: too few training feature vectors (${train.count})`);
    if (validation.count === 0 && !env.stopRequested()) throw new Error(`${OWNER}${source.description}: no validation images could be read`);
  } catch (error) {
    await stage.dispose();
    throw error;
  }
  if (env.stopRequested()) {
    await stage.dispose();
    const featureMs = Date.now() - featureStart;
    return { stages: [], finish: async () => undefined, result: () => ({ latentWidth: 0, shape, history: [], featureMs, pcaMs: 0 }), dispose: async () => undefined };
  }
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
    const step = Math.max(1, Math.floor(train.count / settings.pcaVectors));
    const sampleCount = Math.floor((train.count - 1) / step) + 1;
    const sample = new Float32Array(sampleCount * dim);
    for (let i = 0; i < sampleCount; i++) sample.set(train.vectors.subarray(i * step * dim, (i * step + 1) * dim), i * dim);
    const result = pcaLatentWidth(sample, sampleCount, dim, varianceFraction);
    latentWidth = cap ? Math.min(result.width, cap.width) : result.width;
    pca = {
      fraction: varianceFraction,
      featureVectors: sampleCount,
      eigenvaluesTop: Array.from(result.eigenvalues.subarray(0, 10)),
      wantedWidth: result.width,
      varianceKept: varianceKept(result.eigenvalues, latentWidth),
    };
  }
  const latentCap = cap ? { ...cap, capped: pca !== undefined && pca.wantedWidth > cap.width } : undefined;
  const latentChoice = describeLatentChoice(latentWidth, pca, latentCap);
  const pcaMs = Date.now() - pcaStart;
  log(`latent width ${latentWidth} (${latentChoice}); autoencoder ${dim} -> ${autoencoderWidths(dim, latentWidth).join(' -> ')}`);

  const autoencoder = buildVectorAutoencoder(dim, latentWidth, seed);
  const optimizer = tf.train.adam(settings.learningRate);
  const random = createRandom(seed + 2);
  const history: DfrEpochRecord[] = [];
  let best = { valLoss: Infinity, epoch: 0, weights: [] as tf.Tensor[] };
  const order = Array.from({ length: train.count }, (_, i) => i);
  const batchData = new Float32Array(batch * dim);
  let full: ReturnType<FeatureStage['head']> | undefined;

  async function runEpoch(epoch: number, report: StepReport): Promise<EpochOutcome | 'stopped'> {
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
      if (report(Math.ceil((start + n) / batch), lossSum / seen)) return 'stopped';
    }
    const loss = lossSum / Math.max(1, seen);
    const valLoss = await meanSquaredError(autoencoder, validation.vectors, validation.count, dim, 4096);
    if (!Number.isFinite(loss) || !Number.isFinite(valLoss)) throw new Error(`${OWNER}training diverged at epoch ${epoch} (loss ${loss}, validation ${valLoss}); lower the learning rate (--lr)`);
    const seconds = (Date.now() - epochStart) / 1000;
    history.push({ epoch, loss, valLoss, seconds });
    if (valLoss < best.valLoss) {
      tf.dispose(best.weights);
      best = { valLoss, epoch, weights: autoencoder.getWeights().map((w) => w.clone()) };
    }
    // The epoch covers the feature vectors of every training image once.
    return { loss, valLoss, images: train.images, seconds, metrics: { featureVectors: seen } };
  }

  async function finish(): Promise<FinishedModel | undefined> {
    if (best.epoch === 0) return undefined;
    autoencoder.setWeights(best.weights);
    const head = stage.head(autoencoder, standardization);
    full = head;
    return {
      async save(runDir) {
        await saveModelToDir(head.model, runDir);
        if (isOnnxBackbone(backboneSpec)) {
          await writeRunBackbone(runDir, { kind: 'onnx', name: backboneSpec.name, onnxPath: resolve(backboneSpec.onnxPath), sha256: await sha256Of(backboneSpec.onnxPath), taps: [...backboneSpec.taps] });
        }
      },
      async validationScores(onMap) {
        if (positionImages > 0) {
          const maps = await dfrGridMaps(head.maps, source.trainBatches(featureBatch, 0), shape, positionImages);
          // The card below holds this same `score` object, so it carries the fitted statistics.
          score.map.positionStandardization = fitPositionStandardization(maps, shape.featureGrid, shape.featureGrid, `${maps.length} normal training images`);
          log(`position standardization fitted on ${maps.length} training images (${shape.featureGrid}x${shape.featureGrid} map)`);
        }
        return scoreDfrBatches(head.maps, source.validationBatches(featureBatch), shape, score, onMap);
      },
      pixelFpr: settings.pixelFpr,
      bestEpoch: best.epoch,
      bestValLoss: best.valLoss,
      card: {
        name: `dfr-${backboneSpec.name ?? 'backbone'}-${size}px-${channels === 1 ? 'grey' : 'rgb'}`,
        description: `DFR (deep feature reconstruction) on ${stage.description} features, trained on ${source.description}`,
        input: { name: 'input', layout: 'NCHW', shape: ['N', channels, size, size] },
        outputs: dfrOutputs(shape.featureGrid, dim),
        score,
        loss: 'mse on backbone features (autoencoder only; backbone frozen)',
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
            latentChoice,
            ...(latentCap ? { latentCap: { ...latentCap, ...(pca ? { pcaWidth: pca.wantedWidth, varianceKept: pca.varianceKept } : {}) } } : {}),
            autoencoderWidths: autoencoderWidths(dim, latentWidth),
            trainVectors: train.count,
            vectorsPerImage: perImage,
            bestEpoch: best.epoch,
            bestValLoss: best.valLoss,
            pixelThreshold: { fpr: settings.pixelFpr, on: `${validation.images * size * size} good validation pixels (map upsampled to the input)` },
            whyErrorMapOutput:
              'The graph outputs the per-position feature error itself, not the two feature maps: one small [N,1,h,w] output instead of two [N,C,h,w] ones (C = ' +
              `${dim}), so far less data leaves the runtime, and the scorer stays the same as for every family (kind 'model-output': reduce, upsample, image score).`,
          },
        },
      },
    };
  }

  return {
    stages: [{ name: 'train', epochs: settings.epochs, stepsPerEpoch: Math.ceil(train.count / batch), runEpoch }],
    finish,
    result: () => ({ latentWidth, ...(pca ? { pca } : {}), ...(latentCap ? { latentCap } : {}), shape, history, featureMs, pcaMs }),
    async dispose() {
      tf.dispose(best.weights);
      optimizer.dispose();
      full?.model.dispose();
      autoencoder.dispose();
      await stage.dispose();
    },
  };
}

/** Trains DFR into `options.out` through the shared recipe. */
export async function trainDfr(options: DfrTrainOptions): Promise<DfrTrainResult> {
  if (options == null || typeof options !== 'object') throw new Error(`${OWNER}options object required`);
  const result = await runRecipe(dfrFamily, options, OWNER);
  const { extra } = result;
  return {
    runDir: result.runDir,
    completed: result.completed,
    interrupted: result.interrupted,
    ...(result.card && result.cardPath ? { card: result.card, cardPath: result.cardPath } : {}),
    latentWidth: extra.latentWidth,
    ...(extra.pca ? { pca: extra.pca } : {}),
    ...(extra.latentCap ? { latentCap: extra.latentCap } : {}),
    shape: extra.shape,
    history: extra.history,
    bestEpoch: result.bestEpoch,
    backend: result.backend,
    timings: { totalMs: result.timings.totalMs, featureMs: extra.featureMs, pcaMs: extra.pcaMs, trainMs: result.timings.trainMs, calibrationMs: result.timings.calibrationMs, imagesPerSecond: result.timings.imagesPerSecond },
  };
}

/** The latent cap of an ONNX backbone: what the file budget leaves after the backbone file. */
async function latentCapOf(spec: OnnxBackboneSpec, featureChannels: number, maxFileBytes: number): Promise<LatentCap> {
  const backboneBytes = (await stat(spec.onnxPath)).size;
  try {
    return latentCapForBudget(featureChannels, backboneBytes, maxFileBytes, `the backbone ${spec.name}`);
  } catch (error) {
    throw new Error(`${OWNER}${(error as Error).message}; raise maxFileBytes`);
  }
}

/** A given latent must be a bottleneck (at most the feature channels) and fit the file budget. */
function checkGivenLatent(latent: number | undefined, featureChannels: number, cap: LatentCap | undefined): void {
  if (latent === undefined) return;
  if (latent > featureChannels) throw new Error(`${OWNER}latent must be at most the ${featureChannels} feature channels (a bottleneck), got ${latent}`);
  if (cap && latent > cap.width) {
    throw new Error(
      `${OWNER}latent ${latent} does not fit the file budget: the backbone takes ${megabytes(cap.backboneBytes)} of ${megabytes(cap.budgetBytes)} (maxFileBytes), ` +
        `which leaves room for a latent of at most ${cap.width} (${megabytes(cap.headBytes)} head)`,
    );
  }
}

/** How the width was chosen, for the log and the card (the MobileNet DFR's wording is unchanged). */
function describeLatentChoice(width: number, pca: DfrTrainResult['pca'], cap: DfrTrainResult['latentCap']): string {
  const budget = cap ? `the ${megabytes(cap.budgetBytes)} float32 / ${megabytes(cap.budgetBytes / 2)} fp16-storage file budget (backbone ${megabytes(cap.backboneBytes)})` : '';
  if (!pca) return cap ? `given; at most ${cap.width} within ${budget}` : 'given';
  const asked = `PCA keeping ${pca.fraction} of the feature variance (${pca.featureVectors} vectors)`;
  if (!cap) return asked;
  if (!cap.capped) return `${asked}; under the cap of ${cap.width} set by ${budget}`;
  return `${asked} wanted ${pca.wantedWidth}; capped at ${width} by ${budget}, keeping ${pca.varianceKept.toFixed(3)} of the variance`;
}

export async function sha256Of(path: string): Promise<string> {
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
