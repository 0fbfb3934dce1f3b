/**
 * f-AnoGAN training (Schlegl et al. 2019, "f-AnoGAN: Fast unsupervised anomaly detection with generative
 * adversarial networks"), in two stages on good images only:
 *
 * 1. A DCGAN generator and critic trained with WGAN-GP (Gulrajani et al. 2017): critic loss
 *    D(fake) - D(real) + lambda (||grad D(x_hat)|| - 1)^2 (+ a small drift term), nCritic critic steps per
 *    generator step, Adam(lr, 0, 0.9). Chosen over the non-saturating loss because the Wasserstein critic
 *    gives the generator useful gradients even when the critic wins (no vanishing gradient), which is
 *    what keeps small, short, CPU-bound runs from collapsing; its estimate of the distance is also a loss
 *    that means something to log. The penalty needs second-order gradients: see second-order.ts.
 * 2. An encoder trained with izi_f, generator and critic frozen:
 *    ||x - G(E(x))||^2 / n + kappa ||f(x) - f(G(E(x)))||^2 / n_f, f = the critic's last hidden layer.
 *
 * Anomaly score = mean pixel residual + kappa * feature residual (the same izi_f), map = pixel residual.
 * Stability is watched per epoch: a sample grid (fixed z) is saved, and the mean pairwise distance of
 * generated samples is compared with that of real images (ratio near 0 = mode collapse).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writePng } from '@residuum/imaging';
import type { ModelCard, OutputSpec, PreprocessingSpec, RawImage, ScoreSpec } from '@residuum/scoring';
import { createRandom, shuffled, type SeededRandom } from '../../random.js';
import { runRecipe, squarePreprocessing, type EpochOutcome, type FamilyTraining, type FinishedModel, type RecipeOptions, type StepReport, type TrainingEnvironment, type TrainingFamily } from '../../recipe/recipe.js';
import { readRunHistory, runPath, type HistoryEpoch } from '../../run-folder/index.js';
import { scoreImages } from '../../training/calibration.js';
import type { NhwcBatch } from '../../training/data.js';
import { loadModelFromDir, saveModelToDir } from '../../training/model-io.js';
import {
  buildCritic,
  buildEncoder,
  buildGenerator,
  buildInferenceGraph,
  checkArchitecture,
  FEATURE_RESIDUAL_OUTPUT,
  RECONSTRUCTION_OUTPUT,
  type FanoganArchitecture,
} from './networks.js';
import { registerComparisonGradients } from './second-order.js';
import { positiveInteger, positiveNumber } from '../../training/options.js';

/** Run folder and data (see RunDataOptions; `dataSource` is built with `fanoganPreprocessing`). */
export interface FanoganTrainOptions extends RecipeOptions {
  /** Square side, a power of two >= 8 (default 64). */
  size?: number;
  /** Default 1 (grey). */
  channels?: 1 | 3;
  zDim?: number;
  baseFilters?: number;
  /**
   * A previous f-AnoGAN run folder: reuse its trained generator and critic (gan/generator, gan/critic) and
   * GAN history, and train only the encoder (e.g. another kappa or encoder learning rate).
   */
  ganFrom?: string;
  /** GAN epochs: passes of the critic over the training images (default 20). */
  ganEpochs?: number;
  /** Encoder epochs (default 10). */
  encoderEpochs?: number;
  /** Stop the GAN after this many generator steps (bounded runs); default unlimited. */
  maxGeneratorSteps?: number;
  /** Images per step (default 32). */
  batch?: number;
  /** Critic steps per generator step (default 5). */
  nCritic?: number;
  /** Gradient penalty weight lambda (default 10). */
  gradientPenalty?: number;
  /** GAN Adam learning rate (default 2e-4; betas 0 / 0.9 as in WGAN-GP). */
  ganLearningRate?: number;
  /** Encoder Adam learning rate (default 1e-3). */
  encoderLearningRate?: number;
  /** Weight of the feature residual in the encoder loss and the score (default 1). */
  kappa?: number;
  /** Use at most this many training images (evenly spaced); default all. */
  maxTrainImages?: number;
}

export interface GanEpochRecord {
  epoch: number;
  generatorSteps: number;
  /** Mean over the epoch's critic steps of D(real) - D(fake): the critic's Wasserstein estimate. */
  wassersteinEstimate: number;
  criticLoss: number;
  gradientPenalty: number;
  generatorLoss: number;
  /** Mean pairwise RMS distance of generated samples (fixed z) / the same for real images. */
  diversityRatio: number;
  sampleDiversity: number;
  realDiversity: number;
  samplesPng: string;
  seconds: number;
}

export interface EncoderEpochRecord {
  epoch: number;
  loss: number;
  imageResidual: number;
  featureResidual: number;
  valLoss: number;
  seconds: number;
}

export interface FanoganTrainResult {
  runDir: string;
  /** False when stopped (Ctrl-C / signal); a card (training.interrupted) is written only once an encoder epoch had finished. */
  completed: boolean;
  interrupted: boolean;
  cardPath?: string;
  card?: ModelCard;
  architecture: FanoganArchitecture;
  gan: GanEpochRecord[];
  encoder: EncoderEpochRecord[];
  /** Lowest diversity ratio after the first epoch and whether it crossed the collapse limit. */
  stability?: { minDiversityRatio: number; finalDiversityRatio: number; collapseSuspected: boolean; collapseLimit: number };
  backend: string;
  timings: { totalMs: number; trainMs: number; calibrationMs: number; imagesPerSecond: number };
}

export const FANOGAN_DEFAULTS = {
  size: 64,
  channels: 1 as 1 | 3,
  zDim: 64,
  baseFilters: 16,
  ganEpochs: 20,
  encoderEpochs: 10,
  batch: 32,
  nCritic: 5,
  gradientPenalty: 10,
  ganLearningRate: 2e-4,
  encoderLearningRate: 1e-3,
  kappa: 1,
  seed: 42,
  validationSplit: 0.1,
};

/** Below this ratio of generated to real sample diversity, training is flagged as collapsed. */
export const COLLAPSE_LIMIT = 0.25;
const DRIFT_WEIGHT = 1e-3;
const SAMPLE_COUNT = 32;

/** Fill-resize, bilinear, values in [-1, 1] (the generator's tanh range). */
export function fanoganPreprocessing(size: number, channels: 1 | 3): PreprocessingSpec {
  return squarePreprocessing(size, channels, 0.5, 0.5);
}

export function fanoganScoreSpec(kappa: number = FANOGAN_DEFAULTS.kappa): ScoreSpec {
  return { map: { kind: 'squared', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean', kappa } };
}




/** All images of a batch stream in one NHWC array (the GAN makes many passes; decoding once is cheaper). */
async function collect(batches: AsyncIterable<NhwcBatch>, imageSize: number, limit: number): Promise<{ data: Float32Array; count: number }> {
  const parts: NhwcBatch[] = [];
  let count = 0;
  for await (const batch of batches) {
    parts.push(batch);
    count += batch.count;
  }
  const data = new Float32Array(count * imageSize);
  let offset = 0;
  for (const part of parts) {
    data.set(part.data.subarray(0, part.count * imageSize), offset);
    offset += part.count * imageSize;
  }
  if (count <= limit) return { data, count };
  // Evenly spaced subset, so a bounded run still sees the whole range of the (shuffled) data.
  const kept = new Float32Array(limit * imageSize);
  for (let i = 0; i < limit; i++) {
    const from = Math.floor((i * count) / limit) * imageSize;
    kept.set(data.subarray(from, from + imageSize), i * imageSize);
  }
  return { data: kept, count: limit };
}

function batchTensor(images: { data: Float32Array }, indices: readonly number[], arch: FanoganArchitecture): tf.Tensor4D {
  const imageSize = arch.size * arch.size * arch.channels;
  const data = new Float32Array(indices.length * imageSize);
  indices.forEach((index, i) => data.set(images.data.subarray(index * imageSize, (index + 1) * imageSize), i * imageSize));
  return tf.tensor4d(data, [indices.length, arch.size, arch.size, arch.channels]);
}

function variablesOf(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((weight) => weight.read() as tf.Variable);
}

function named(grads: tf.NamedTensorMap): Array<{ name: string; tensor: tf.Tensor }> {
  return Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
}

function criticScore(critic: tf.LayersModel, x: tf.Tensor): tf.Tensor {
  return (critic.apply(x, { training: true }) as tf.Tensor[])[0];
}

function criticFeatures(critic: tf.LayersModel, x: tf.Tensor): tf.Tensor {
  return (critic.apply(x, { training: false }) as tf.Tensor[])[1];
}

function uniformLatent(count: number, zDim: number, random: SeededRandom): tf.Tensor2D {
  return tf.randomUniform([count, zDim], -1, 1, 'float32', random.seed()) as tf.Tensor2D;
}

/** Mean over pairs of the RMS difference between two images (NHWC rows). */
export function meanPairwiseDistance(data: Float32Array, count: number, imageSize: number): number {
  if (count < 2) throw new Error(`meanPairwiseDistance: need at least 2 images, got ${count}`);
  let sum = 0;
  let pairs = 0;
  for (let a = 0; a < count; a++) {
    for (let b = a + 1; b < count; b++) {
      let squared = 0;
      const oa = a * imageSize;
      const ob = b * imageSize;
      for (let i = 0; i < imageSize; i++) {
        const d = data[oa + i] - data[ob + i];
        squared += d * d;
      }
      sum += Math.sqrt(squared / imageSize);
      pairs++;
    }
  }
  return sum / pairs;
}

/** A grid of images in [-1, 1] (NHWC rows) as one 8-bit picture, 1 px gaps. */
export function imageGrid(data: Float32Array, count: number, size: number, channels: 1 | 3, columns: number): RawImage {
  const rows = Math.ceil(count / columns);
  const width = columns * (size + 1) - 1;
  const height = rows * (size + 1) - 1;
  const out = new Uint8Array(width * height * channels);
  for (let n = 0; n < count; n++) {
    const left = (n % columns) * (size + 1);
    const top = Math.floor(n / columns) * (size + 1);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < channels; c++) {
          const v = data[((n * size + y) * size + x) * channels + c];
          out[((top + y) * width + left + x) * channels + c] = Math.max(0, Math.min(255, Math.round((v * 0.5 + 0.5) * 255)));
        }
      }
    }
  }
  return { data: out, width, height, channels };
}

/**
 * Scores of images through the exported inference graph, exactly as the runtimes do it (the
 * squared pixel map from input and `reconstruction`, its mean, plus kappa * `disc_feature_residual`,
 * all by the card's score spec in @residuum/scoring).
 */
export async function scoreFanoganBatches(
  model: tf.LayersModel,
  batches: AsyncIterable<NhwcBatch>,
  arch: Pick<FanoganArchitecture, 'size' | 'channels'>,
  score: ScoreSpec,
  onImage?: (map: Float32Array, index: number) => void,
): Promise<number[]> {
  const { size, channels } = arch;
  return scoreImages(model, batches, { height: size, width: size, channels }, { outputs: fanoganOutputs(arch), score }, onImage);
}

/** The card's outputs, in the inference graph's output order. */
function fanoganOutputs(arch: Pick<FanoganArchitecture, 'size' | 'channels'>): OutputSpec[] {
  return [
    { name: RECONSTRUCTION_OUTPUT, meaning: 'reconstruction', shape: ['N', arch.channels, arch.size, arch.size], description: 'G(E(x)) in the normalized input space ([-1, 1])' },
    {
      name: FEATURE_RESIDUAL_OUTPUT,
      meaning: 'discriminator-feature-residual',
      shape: ['N', 1],
      description: "mean over the critic's last hidden layer of (f(x) - f(G(E(x))))^2",
    },
  ];
}

function* arrayBatches(images: { data: Float32Array; count: number }, imageSize: number, batch: number): Generator<NhwcBatch> {
  for (let start = 0; start < images.count; start += batch) {
    const count = Math.min(batch, images.count - start);
    yield { data: images.data.subarray(start * imageSize, (start + count) * imageSize), count };
  }
}

async function* asAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

/** A GAN epoch as history.json stores it (stage 'gan'), and back. */
function ganHistoryEpoch(record: GanEpochRecord): HistoryEpoch {
  const { epoch, criticLoss, seconds, ...metrics } = record;
  return { stage: 'gan', epoch, loss: criticLoss, seconds, metrics: Object.fromEntries(Object.entries(metrics).filter(([, v]) => typeof v === 'string' || Number.isFinite(v))) };
}

function ganRecordOf(entry: HistoryEpoch): GanEpochRecord {
  const m = entry.metrics ?? {};
  const number = (key: string): number => (typeof m[key] === 'number' ? (m[key] as number) : Number.NaN);
  return {
    epoch: entry.epoch,
    generatorSteps: number('generatorSteps'),
    wassersteinEstimate: number('wassersteinEstimate'),
    criticLoss: entry.loss,
    gradientPenalty: number('gradientPenalty'),
    generatorLoss: number('generatorLoss'),
    diversityRatio: number('diversityRatio'),
    sampleDiversity: number('sampleDiversity'),
    realDiversity: number('realDiversity'),
    samplesPng: String(m.samplesPng ?? ''),
    seconds: entry.seconds,
  };
}

function encoderHistoryEpoch(record: EncoderEpochRecord): HistoryEpoch {
  const { epoch, loss, valLoss, seconds, imageResidual, featureResidual } = record;
  return { stage: 'encoder', epoch, loss, valLoss, seconds, metrics: { imageResidual, featureResidual } };
}

/** The generator, critic and GAN history of a previous run folder (any run folder format), checked against `arch`. */
async function loadGan(runDir: string, arch: FanoganArchitecture): Promise<{ dir: string; generator: tf.LayersModel; critic: tf.LayersModel; history: GanEpochRecord[] }> {
  const dir = resolve(runDir);
  const historyPath = runPath(dir, 'history');
  let history: GanEpochRecord[];
  try {
    const parsed = await readRunHistory(dir);
    if (parsed === undefined) throw new Error('no such file');
    const gan = parsed.epochs.filter((e) => e.stage === 'gan');
    if (parsed.family !== 'fanogan' || gan.length === 0) throw new Error('not an f-AnoGAN history with GAN epochs');
    history = gan.map(ganRecordOf);
  } catch (error) {
    throw new Error(`${OWNER}ganFrom: cannot use ${historyPath}: ${(error as Error).message}`);
  }
  const generator = await loadModelFromDir(join(dir, 'gan', 'generator'));
  const critic = await loadModelFromDir(join(dir, 'gan', 'critic'));
  const expected = JSON.stringify([arch.size, arch.size, arch.channels]);
  const generated = JSON.stringify(generator.outputs[0].shape.slice(1));
  const zDim = generator.inputs[0].shape[1];
  if (generated !== expected || zDim !== arch.zDim) {
    throw new Error(`${OWNER}ganFrom ${dir}: its generator maps z ${zDim} to ${generated}, the options ask for z ${arch.zDim} to ${expected}`);
  }
  return { dir, generator, critic, history };
}

const OWNER = 'trainFanogan: ';

interface FanoganSettings {
  arch: FanoganArchitecture;
  ganEpochs: number;
  encoderEpochs: number;
  maxGeneratorSteps: number;
  batch: number;
  nCritic: number;
  lambda: number;
  ganLearningRate: number;
  encoderLearningRate: number;
  kappa: number;
  maxTrainImages: number;
}

function fanoganSettings(options: FanoganTrainOptions): FanoganSettings {
  const arch: FanoganArchitecture = {
    size: positiveInteger(options.size, 'size', FANOGAN_DEFAULTS.size, OWNER),
    channels: options.channels ?? FANOGAN_DEFAULTS.channels,
    zDim: positiveInteger(options.zDim, 'zDim', FANOGAN_DEFAULTS.zDim, OWNER),
    baseFilters: positiveInteger(options.baseFilters, 'baseFilters', FANOGAN_DEFAULTS.baseFilters, OWNER),
  };
  try {
    checkArchitecture(arch);
  } catch (error) {
    throw new Error(`${OWNER}${(error as Error).message}`);
  }
  const batch = positiveInteger(options.batch, 'batch', FANOGAN_DEFAULTS.batch, OWNER);
  if (batch < 2) throw new Error(`${OWNER}batch must be at least 2, got ${batch}`);
  return {
    arch,
    ganEpochs: positiveInteger(options.ganEpochs, 'ganEpochs', FANOGAN_DEFAULTS.ganEpochs, OWNER),
    encoderEpochs: positiveInteger(options.encoderEpochs, 'encoderEpochs', FANOGAN_DEFAULTS.encoderEpochs, OWNER),
    maxGeneratorSteps: options.maxGeneratorSteps === undefined ? Infinity : positiveInteger(options.maxGeneratorSteps, 'maxGeneratorSteps', 1, OWNER),
    batch,
    nCritic: positiveInteger(options.nCritic, 'nCritic', FANOGAN_DEFAULTS.nCritic, OWNER),
    lambda: positiveNumber(options.gradientPenalty, 'gradientPenalty', FANOGAN_DEFAULTS.gradientPenalty, OWNER, true),
    ganLearningRate: positiveNumber(options.ganLearningRate, 'ganLearningRate', FANOGAN_DEFAULTS.ganLearningRate, OWNER),
    encoderLearningRate: positiveNumber(options.encoderLearningRate, 'encoderLearningRate', FANOGAN_DEFAULTS.encoderLearningRate, OWNER),
    kappa: positiveNumber(options.kappa, 'kappa', FANOGAN_DEFAULTS.kappa, OWNER, true),
    maxTrainImages: options.maxTrainImages === undefined ? Infinity : positiveInteger(options.maxTrainImages, 'maxTrainImages', 1, OWNER),
  };
}

interface FanoganExtra {
  architecture: FanoganArchitecture;
  gan: GanEpochRecord[];
  encoder: EncoderEpochRecord[];
  stability?: FanoganTrainResult['stability'];
}

/** f-AnoGAN as a recipe family: stage 'gan' (WGAN-GP), then stage 'encoder' (izi_f), one inference graph. */
export const fanoganFamily: TrainingFamily<FanoganTrainOptions, FanoganExtra> = {
  family: 'fanogan',
  check: (options) => void fanoganSettings(options),
  beforeBackend: registerComparisonGradients,
  preprocessing(options) {
    const { arch } = fanoganSettings(options);
    return fanoganPreprocessing(arch.size, arch.channels);
  },
  plan: planFanogan,
};

async function planFanogan(options: FanoganTrainOptions, env: TrainingEnvironment): Promise<FamilyTraining<FanoganExtra>> {
  const settings = fanoganSettings(options);
  const { arch, batch, nCritic, lambda, kappa, maxGeneratorSteps } = settings;
  const { runDir, source, seed, log } = env;
  const score = fanoganScoreSpec(kappa);
  await mkdir(join(runDir, 'samples'), { recursive: true });
  const imageSize = arch.size * arch.size * arch.channels;
  const train = await collect(env.untilStopped(source.trainBatches(64, 0)), imageSize, settings.maxTrainImages);
  const validation = await collect(source.validationBatches(64), imageSize, Infinity);
  if (env.stopRequested()) return { stages: [], finish: async () => undefined, result: () => ({ architecture: arch, gan: [], encoder: [] }), dispose: async () => undefined };
  if (train.count < batch) throw new Error(`${OWNER}${source.description}: ${train.count} training images, fewer than one batch (${batch})`);
  if (validation.count < 1) throw new Error(`${OWNER}${source.description}: no validation images could be read`);
  log(`f-AnoGAN ${arch.size}x${arch.size}x${arch.channels}, z ${arch.zDim}, base ${arch.baseFilters}: ${train.count} training, ${validation.count} validation images`);

  const random = createRandom(seed);
  const loaded = options.ganFrom === undefined ? undefined : await loadGan(options.ganFrom, arch);
  if (loaded) log(`GAN from ${loaded.dir} (${loaded.history.length} epochs, ${loaded.history[loaded.history.length - 1].generatorSteps} generator steps): training the encoder only`);
  const generator = loaded?.generator ?? buildGenerator(arch, seed + 1);
  const critic = loaded?.critic ?? buildCritic(arch, seed + 2);
  const encoder = buildEncoder(arch, seed + 3);
  const generatorVariables = variablesOf(generator);
  const criticVariables = variablesOf(critic);
  const encoderVariables = variablesOf(encoder);

  // ---------- stage 1: WGAN-GP ----------
  const criticOptimizer = tf.train.adam(settings.ganLearningRate, 0, 0.9);
  const generatorOptimizer = tf.train.adam(settings.ganLearningRate, 0, 0.9);
  const fixedZ = uniformLatent(SAMPLE_COUNT, arch.zDim, createRandom(seed + 7));
  const realSample = Array.from({ length: Math.min(SAMPLE_COUNT, train.count) }, (_, i) => Math.floor((i * train.count) / Math.min(SAMPLE_COUNT, train.count)));
  const realTensor = batchTensor(train, realSample, arch);
  const realDiversity = meanPairwiseDistance((await realTensor.data()) as Float32Array, realSample.length, imageSize);
  realTensor.dispose();
  const gan: GanEpochRecord[] = loaded ? loaded.history : [];
  let generatorSteps = loaded ? loaded.history[loaded.history.length - 1].generatorSteps : 0;
  const allIndices = Array.from({ length: train.count }, (_, i) => i);

  async function ganEpoch(epoch: number, report: StepReport): Promise<EpochOutcome | 'stopped'> {
    const epochStart = Date.now();
    const order = shuffled(allIndices, random);
    let criticSteps = 0;
    let criticStepsSinceGenerator = 0;
    let stepsThisEpoch = 0;
    const sums = { wasserstein: 0, criticLoss: 0, penalty: 0, generatorLoss: 0 };
    for (let start = 0; start + batch <= order.length && generatorSteps < maxGeneratorSteps; start += batch) {
      const real = batchTensor(train, order.slice(start, start + batch), arch);
      const z = uniformLatent(batch, arch.zDim, random);
      const mix = tf.randomUniform([batch, 1, 1, 1], 0, 1, 'float32', random.seed());
      // Made outside the gradient closure: a constant for the critic step.
      const fake = generator.apply(z, { training: true }) as tf.Tensor;
      let parts: tf.Scalar[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const realScore = criticScore(critic, real);
        const fakeScore = criticScore(critic, fake);
        const interpolated = tf.add(tf.mul(mix, real), tf.mul(tf.sub(1, mix), fake));
        const inputGradient = tf.grad((x: tf.Tensor) => tf.sum(criticScore(critic, x)))(interpolated);
        const norms = tf.sqrt(tf.add(tf.sum(tf.square(inputGradient), [1, 2, 3]), 1e-12));
        const penalty = tf.mean(tf.square(tf.sub(norms, 1))) as tf.Scalar;
        const wasserstein = tf.sub(tf.mean(realScore), tf.mean(fakeScore)) as tf.Scalar;
        const drift = tf.mean(tf.square(realScore));
        parts = [tf.keep(wasserstein), tf.keep(penalty)];
        return tf.addN([tf.neg(wasserstein), tf.mul(lambda, penalty), tf.mul(DRIFT_WEIGHT, drift)]) as tf.Scalar;
      }, criticVariables);
      criticOptimizer.applyGradients(named(grads));
      const [criticLoss, wasserstein, penalty] = await Promise.all([value, ...parts].map(async (t) => (await t.data())[0]));
      tf.dispose([real, z, fake, mix, value, ...parts, ...Object.values(grads)]);
      if (!Number.isFinite(criticLoss)) throw new Error(`${OWNER}the critic diverged at epoch ${epoch} (loss ${criticLoss}); lower ganLearningRate`);
      sums.wasserstein += wasserstein;
      sums.criticLoss += criticLoss;
      sums.penalty += penalty;
      criticSteps++;
      criticStepsSinceGenerator++;
      if (criticStepsSinceGenerator >= nCritic) {
        criticStepsSinceGenerator = 0;
        const zg = uniformLatent(batch, arch.zDim, random);
        const generatorGrads = tf.variableGrads(() => tf.neg(tf.mean(criticScore(critic, generator.apply(zg, { training: true }) as tf.Tensor))) as tf.Scalar, generatorVariables);
        generatorOptimizer.applyGradients(named(generatorGrads.grads));
        sums.generatorLoss += (await generatorGrads.value.data())[0];
        tf.dispose([zg, generatorGrads.value, ...Object.values(generatorGrads.grads)]);
        generatorSteps++;
        stepsThisEpoch++;
      }
      if (report(criticSteps, sums.criticLoss / criticSteps)) return 'stopped';
    }
    const samples = tf.tidy(() => generator.predict(fixedZ) as tf.Tensor);
    const sampleData = (await samples.data()) as Float32Array;
    samples.dispose();
    const sampleDiversity = meanPairwiseDistance(sampleData, SAMPLE_COUNT, imageSize);
    const samplesPng = join('samples', `epoch-${String(epoch).padStart(3, '0')}.png`);
    await writePng(join(runDir, samplesPng), imageGrid(sampleData, SAMPLE_COUNT, arch.size, arch.channels, 8));
    const record: GanEpochRecord = {
      epoch,
      generatorSteps,
      wassersteinEstimate: sums.wasserstein / Math.max(1, criticSteps),
      criticLoss: sums.criticLoss / Math.max(1, criticSteps),
      gradientPenalty: sums.penalty / Math.max(1, criticSteps),
      generatorLoss: stepsThisEpoch > 0 ? sums.generatorLoss / stepsThisEpoch : Number.NaN,
      diversityRatio: sampleDiversity / realDiversity,
      sampleDiversity,
      realDiversity,
      samplesPng,
      seconds: (Date.now() - epochStart) / 1000,
    };
    gan.push(record);
    return {
      loss: record.criticLoss,
      images: criticSteps * batch,
      seconds: record.seconds,
      metrics: ganHistoryEpoch(record).metrics,
      summary:
        `W ${record.wassersteinEstimate.toPrecision(4)}, GP ${record.gradientPenalty.toPrecision(3)}, G ${record.generatorLoss.toPrecision(4)}, ` +
        `diversity ${record.diversityRatio.toFixed(3)} of real, ${generatorSteps} generator steps`,
      ...(generatorSteps >= maxGeneratorSteps ? { endStage: `GAN: ${generatorSteps} generator steps reached (maxGeneratorSteps)` } : {}),
    };
  }

  const stability = (): FanoganTrainResult['stability'] | undefined => {
    if (gan.length === 0) return undefined;
    const ratios = gan.slice(gan.length > 1 ? 1 : 0).map((r) => r.diversityRatio);
    const last = gan[gan.length - 1].diversityRatio;
    return { minDiversityRatio: Math.min(...ratios), finalDiversityRatio: last, collapseSuspected: last < COLLAPSE_LIMIT, collapseLimit: COLLAPSE_LIMIT };
  };

  // ---------- stage 2: izi_f encoder (generator and critic frozen, in inference mode) ----------
  const encoderOptimizer = tf.train.adam(settings.encoderLearningRate, 0.5, 0.999);
  const iziF = (x: tf.Tensor, training: boolean): { total: tf.Scalar; image: tf.Scalar; feature: tf.Scalar } => {
    const reconstruction = generator.apply(encoder.apply(x, { training }) as tf.Tensor, { training: false }) as tf.Tensor;
    const image = tf.mean(tf.squaredDifference(x, reconstruction)) as tf.Scalar;
    const feature = tf.mean(tf.squaredDifference(criticFeatures(critic, x), criticFeatures(critic, reconstruction))) as tf.Scalar;
    return { total: tf.add(image, tf.mul(kappa, feature)) as tf.Scalar, image, feature };
  };
  const validationLoss = async (): Promise<number> => {
    let sum = 0;
    for (const part of arrayBatches(validation, imageSize, batch)) {
      const value = tf.tidy(() => {
        const x = tf.tensor4d(part.data, [part.count, arch.size, arch.size, arch.channels]);
        return tf.mul(iziF(x, false).total, part.count);
      });
      sum += (await value.data())[0];
      value.dispose();
    }
    return sum / validation.count;
  };
  const warmStart = { steps: Math.max(1, Math.floor(train.count / batch)), loss: Number.NaN, done: false };
  // Warm start with ziz (Schlegl et al.'s other encoder loss): ||z - E(G(z))||^2 on generated images puts
  // E's outputs where the prior lives. From a fresh encoder (outputs near z = 0) izi_f alone can stall:
  // near z = 0 the generator's first ReLUs may all be off, so izi_f has no gradient to follow.
  const warmUpEncoder = async (): Promise<void> => {
    const ratio = stability();
    if (ratio?.collapseSuspected) log(`warning: generated samples are ${ratio.finalDiversityRatio.toFixed(3)} as diverse as real images (< ${COLLAPSE_LIMIT}): mode collapse suspected`);
    for (let step = 0; step < warmStart.steps; step++) {
      const z = uniformLatent(batch, arch.zDim, random);
      const generated = generator.apply(z, { training: false }) as tf.Tensor;
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(encoder.apply(generated, { training: true }) as tf.Tensor, z)) as tf.Scalar, encoderVariables);
      encoderOptimizer.applyGradients(named(grads));
      warmStart.loss = (await value.data())[0];
      tf.dispose([z, generated, value, ...Object.values(grads)]);
    }
    warmStart.done = true;
    log(`encoder warm start (ziz, ${warmStart.steps} steps): ${warmStart.loss.toPrecision(4)}`);
  };
  const encoderHistory: EncoderEpochRecord[] = [];
  /** The encoder after its last completed epoch (a Ctrl-C mid-epoch keeps this one). */
  let encoderWeights: tf.Tensor[] = [];

  async function encoderEpoch(epoch: number, report: StepReport): Promise<EpochOutcome | 'stopped'> {
    if (!warmStart.done) await warmUpEncoder();
    const epochStart = Date.now();
    const order = shuffled(allIndices, random);
    const sums = { loss: 0, image: 0, feature: 0, steps: 0 };
    for (let start = 0; start + batch <= order.length; start += batch) {
      const x = batchTensor(train, order.slice(start, start + batch), arch);
      let parts: tf.Scalar[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const loss = iziF(x, true);
        parts = [tf.keep(loss.image), tf.keep(loss.feature)];
        return loss.total;
      }, encoderVariables);
      encoderOptimizer.applyGradients(named(grads));
      const [loss, image, feature] = await Promise.all([value, ...parts].map(async (t) => (await t.data())[0]));
      tf.dispose([x, value, ...parts, ...Object.values(grads)]);
      if (!Number.isFinite(loss)) throw new Error(`${OWNER}the encoder diverged at epoch ${epoch} (loss ${loss}); lower encoderLearningRate`);
      sums.loss += loss;
      sums.image += image;
      sums.feature += feature;
      sums.steps++;
      if (report(sums.steps, sums.loss / sums.steps)) return 'stopped';
    }
    const record: EncoderEpochRecord = {
      epoch,
      loss: sums.loss / sums.steps,
      imageResidual: sums.image / sums.steps,
      featureResidual: sums.feature / sums.steps,
      valLoss: await validationLoss(),
      seconds: (Date.now() - epochStart) / 1000,
    };
    encoderHistory.push(record);
    tf.dispose(encoderWeights);
    encoderWeights = encoder.getWeights().map((w) => w.clone());
    return {
      loss: record.loss,
      valLoss: record.valLoss,
      images: sums.steps * batch,
      seconds: record.seconds,
      metrics: encoderHistoryEpoch(record).metrics,
      summary: `izi_f ${record.loss.toPrecision(4)} (image ${record.imageResidual.toPrecision(4)}, feature ${record.featureResidual.toPrecision(4)}), val ${record.valLoss.toPrecision(4)}`,
    };
  }

  let inference: tf.LayersModel | undefined;
  async function finish(): Promise<FinishedModel | undefined> {
    const ratio = stability();
    if (encoderHistory.length === 0 || ratio === undefined) return undefined;
    encoder.setWeights(encoderWeights);
    const graph = buildInferenceGraph(arch, encoder, generator, critic);
    inference = graph;
    const last = encoderHistory[encoderHistory.length - 1];
    return {
      async save(dir) {
        await saveModelToDir(graph, dir);
        await saveModelToDir(generator, join(dir, 'gan', 'generator'));
        await saveModelToDir(critic, join(dir, 'gan', 'critic'));
        await saveModelToDir(encoder, join(dir, 'gan', 'encoder'));
      },
      validationScores: (onMap) => scoreFanoganBatches(graph, asAsync(arrayBatches(validation, imageSize, batch)), arch, score, onMap),
      bestEpoch: last.epoch,
      bestValLoss: last.valLoss,
      card: {
        name: `fanogan-${arch.size}px-${arch.channels === 1 ? 'grey' : 'rgb'}`,
        description: `f-AnoGAN (WGAN-GP DCGAN + izi_f encoder) trained on ${source.description}`,
        input: { name: 'input', layout: 'NCHW', shape: ['N', arch.channels, arch.size, arch.size] },
        outputs: fanoganOutputs(arch),
        score,
        loss: `WGAN-GP (lambda ${lambda}, nCritic ${nCritic}), then encoder izi_f (kappa ${kappa})`,
        extras: {
          fanogan: {
            architecture: arch,
            ganEpochs: gan.length,
            generatorSteps,
            encoderEpochs: encoderHistory.length,
            batch,
            nCritic,
            gradientPenalty: lambda,
            ganLearningRate: settings.ganLearningRate,
            encoderLearningRate: settings.encoderLearningRate,
            latentPrior: 'uniform(-1, 1); encoder output tanh',
            ...(loaded ? { ganFrom: loaded.dir } : {}),
            stability: ratio,
          },
        },
      },
    };
  }

  return {
    earlierEpochs: loaded ? loaded.history.map(ganHistoryEpoch) : [],
    stages: [
      { name: 'gan', epochs: loaded ? loaded.history.length : settings.ganEpochs, epochsDone: loaded ? loaded.history.length : 0, stepsPerEpoch: Math.floor(train.count / batch), runEpoch: ganEpoch },
      { name: 'encoder', epochs: settings.encoderEpochs, stepsPerEpoch: Math.floor(train.count / batch), runEpoch: encoderEpoch },
    ],
    finish,
    details: () => ({
      stabilityCheck: `per GAN epoch: mean pairwise RMS distance of ${SAMPLE_COUNT} samples from a fixed z over that of ${realSample.length} real training images (diversityRatio); below ${COLLAPSE_LIMIT} = collapse suspected; grids in samples/`,
      ...(stability() ? { stability: stability() } : {}),
      ...(loaded ? { ganFrom: loaded.dir } : {}),
      ...(warmStart.done ? { encoderWarmStart: { loss: 'ziz: mean (z - E(G(z)))^2', steps: warmStart.steps, finalLoss: warmStart.loss } } : {}),
    }),
    result: () => ({ architecture: arch, gan, encoder: encoderHistory, ...(stability() ? { stability: stability() } : {}) }),
    async dispose() {
      tf.dispose([fixedZ, ...encoderWeights]);
      criticOptimizer.dispose();
      generatorOptimizer.dispose();
      encoderOptimizer.dispose();
      inference?.dispose();
      generator.dispose();
      critic.dispose();
      encoder.dispose();
    },
  };
}

/** Trains f-AnoGAN into `options.out` through the shared recipe. */
export async function trainFanogan(options: FanoganTrainOptions): Promise<FanoganTrainResult> {
  if (options == null || typeof options !== 'object') throw new Error(`${OWNER}options object required`);
  const result = await runRecipe(fanoganFamily, options, OWNER);
  const { extra } = result;
  return {
    runDir: result.runDir,
    completed: result.completed,
    interrupted: result.interrupted,
    ...(result.card && result.cardPath ? { card: result.card, cardPath: result.cardPath } : {}),
    architecture: extra.architecture,
    gan: extra.gan,
    encoder: extra.encoder,
    ...(extra.stability ? { stability: extra.stability } : {}),
    backend: result.backend,
    timings: { totalMs: result.timings.totalMs, trainMs: result.timings.trainMs, calibrationMs: result.timings.calibrationMs, imagesPerSecond: result.timings.imagesPerSecond },
  };
}
