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
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writePng } from '@residuum/imaging';
import {
  MODEL_CARD_SCHEMA_VERSION,
  validateModelCard,
  type ModelCard,
  type OutputSpec,
  type PreprocessingSpec,
  type RawImage,
  type ScoreSpec,
} from '@residuum/scoring';
import { initBackend, type BackendRequest } from '../../backend/index.js';
import { createRandom, shuffled, type SeededRandom } from '../../random.js';
import { calibrate, DEFAULT_THRESHOLD, GoodPixels, scoreImages, type ThresholdOption } from '../../training/calibration.js';
import { createDatasetSource, type NhwcBatch } from '../../training/data.js';
import { loadModelFromDir, saveModelToDir, writeFileAtomic } from '../../training/model-io.js';
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
import { positiveInteger, positiveNumber, trainerVersion, type RunDataOptions } from '../../training/options.js';

/** Run folder and data (see RunDataOptions; `dataSource` is built with `fanoganPreprocessing`). */
export interface FanoganTrainOptions extends RunDataOptions {
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
  seed?: number;
  /** Held-out fraction of the normal images for validation and calibration (default 0.1). */
  validationSplit?: number;
  threshold?: ThresholdOption;
  backend?: BackendRequest;
  command?: string;
  quiet?: boolean;
  log?: (line: string) => void;
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
  cardPath: string;
  card: ModelCard;
  architecture: FanoganArchitecture;
  gan: GanEpochRecord[];
  encoder: EncoderEpochRecord[];
  /** Lowest diversity ratio after the first epoch and whether it crossed the collapse limit. */
  stability: { minDiversityRatio: number; finalDiversityRatio: number; collapseSuspected: boolean; collapseLimit: number };
  backend: string;
  timings: { totalMs: number; ganMs: number; encoderMs: number; calibrationMs: number };
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
  return { width: size, height: size, channels, resize: 'fill', interpolation: 'bilinear', mean: new Array<number>(channels).fill(0.5), std: new Array<number>(channels).fill(0.5) };
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

/** The generator, critic and GAN history of a previous run folder, checked against `arch`. */
async function loadGan(runDir: string, arch: FanoganArchitecture): Promise<{ dir: string; generator: tf.LayersModel; critic: tf.LayersModel; history: GanEpochRecord[] }> {
  const dir = resolve(runDir);
  const historyPath = join(dir, 'history.json');
  let history: GanEpochRecord[];
  try {
    const parsed = JSON.parse(await readFile(historyPath, 'utf8')) as { family?: unknown; gan?: unknown };
    if (parsed.family !== 'fanogan' || !Array.isArray(parsed.gan) || parsed.gan.length === 0) throw new Error('not an f-AnoGAN history with GAN epochs');
    history = parsed.gan as GanEpochRecord[];
  } catch (error) {
    throw new Error(`trainFanogan: ganFrom: cannot use ${historyPath}: ${(error as Error).message}`);
  }
  const generator = await loadModelFromDir(join(dir, 'gan', 'generator'));
  const critic = await loadModelFromDir(join(dir, 'gan', 'critic'));
  const expected = JSON.stringify([arch.size, arch.size, arch.channels]);
  const generated = JSON.stringify(generator.outputs[0].shape.slice(1));
  const zDim = generator.inputs[0].shape[1];
  if (generated !== expected || zDim !== arch.zDim) {
    throw new Error(`trainFanogan: ganFrom ${dir}: its generator maps z ${zDim} to ${generated}, the options ask for z ${arch.zDim} to ${expected}`);
  }
  return { dir, generator, critic, history };
}

export async function trainFanogan(options: FanoganTrainOptions): Promise<FanoganTrainResult> {
  const startedAt = Date.now();
  if (options == null || typeof options !== 'object') throw new Error('trainFanogan: options object required');
  if (typeof options.out !== 'string' || options.out.trim() === '') throw new Error('trainFanogan: out (the run folder) is required');
  if (options.data === undefined && options.dataSource === undefined) throw new Error('trainFanogan: data (the dataset folder) or dataSource is required');
  const channels = options.channels ?? FANOGAN_DEFAULTS.channels;
  const arch: FanoganArchitecture = {
    size: positiveInteger(options.size, 'size', FANOGAN_DEFAULTS.size, 'trainFanogan: '),
    channels,
    zDim: positiveInteger(options.zDim, 'zDim', FANOGAN_DEFAULTS.zDim, 'trainFanogan: '),
    baseFilters: positiveInteger(options.baseFilters, 'baseFilters', FANOGAN_DEFAULTS.baseFilters, 'trainFanogan: '),
  };
  try {
    checkArchitecture(arch);
  } catch (error) {
    throw new Error(`trainFanogan: ${(error as Error).message}`);
  }
  const ganEpochs = positiveInteger(options.ganEpochs, 'ganEpochs', FANOGAN_DEFAULTS.ganEpochs, 'trainFanogan: ');
  const encoderEpochs = positiveInteger(options.encoderEpochs, 'encoderEpochs', FANOGAN_DEFAULTS.encoderEpochs, 'trainFanogan: ');
  const maxGeneratorSteps = options.maxGeneratorSteps === undefined ? Infinity : positiveInteger(options.maxGeneratorSteps, 'maxGeneratorSteps', 1, 'trainFanogan: ');
  const batch = positiveInteger(options.batch, 'batch', FANOGAN_DEFAULTS.batch, 'trainFanogan: ');
  if (batch < 2) throw new Error(`trainFanogan: batch must be at least 2, got ${batch}`);
  const nCritic = positiveInteger(options.nCritic, 'nCritic', FANOGAN_DEFAULTS.nCritic, 'trainFanogan: ');
  const lambda = positiveNumber(options.gradientPenalty, 'gradientPenalty', FANOGAN_DEFAULTS.gradientPenalty, 'trainFanogan: ', true);
  const ganLearningRate = positiveNumber(options.ganLearningRate, 'ganLearningRate', FANOGAN_DEFAULTS.ganLearningRate, 'trainFanogan: ');
  const encoderLearningRate = positiveNumber(options.encoderLearningRate, 'encoderLearningRate', FANOGAN_DEFAULTS.encoderLearningRate, 'trainFanogan: ');
  const kappa = positiveNumber(options.kappa, 'kappa', FANOGAN_DEFAULTS.kappa, 'trainFanogan: ', true);
  const maxTrainImages = options.maxTrainImages === undefined ? Infinity : positiveInteger(options.maxTrainImages, 'maxTrainImages', 1, 'trainFanogan: ');
  const seed = options.seed ?? FANOGAN_DEFAULTS.seed;
  if (!Number.isInteger(seed)) throw new Error(`trainFanogan: seed must be an integer, got ${String(seed)}`);
  const validationSplit = options.validationSplit ?? FANOGAN_DEFAULTS.validationSplit;
  if (!(validationSplit > 0 && validationSplit < 1)) throw new Error(`trainFanogan: validationSplit must be in (0, 1), got ${String(validationSplit)}`);
  const score = fanoganScoreSpec(kappa);
  const log = options.quiet ? () => undefined : (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)));

  registerComparisonGradients();
  const selection = await initBackend(options.backend ?? 'auto');
  log(`backend: ${selection.backend} (${selection.reason})`);
  const preprocessing = fanoganPreprocessing(arch.size, arch.channels);
  const source =
    options.dataSource ??
    (await createDatasetSource({ root: options.data as string, layout: options.layout, normalDirs: options.normalDir, preprocessing, validationFraction: validationSplit, seed, log }));
  const runDir = resolve(options.out);
  await mkdir(join(runDir, 'samples'), { recursive: true });

  const imageSize = arch.size * arch.size * arch.channels;
  const train = await collect(source.trainBatches(64, 0), imageSize, maxTrainImages);
  const validation = await collect(source.validationBatches(64), imageSize, Infinity);
  if (train.count < batch) throw new Error(`trainFanogan: ${source.description}: ${train.count} training images, fewer than one batch (${batch})`);
  if (validation.count < 1) throw new Error(`trainFanogan: ${source.description}: no validation images could be read`);
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
  const ganStart = Date.now();
  const criticOptimizer = tf.train.adam(ganLearningRate, 0, 0.9);
  const generatorOptimizer = tf.train.adam(ganLearningRate, 0, 0.9);
  const fixedZ = uniformLatent(SAMPLE_COUNT, arch.zDim, createRandom(seed + 7));
  const realSample = Array.from({ length: Math.min(SAMPLE_COUNT, train.count) }, (_, i) => Math.floor((i * train.count) / Math.min(SAMPLE_COUNT, train.count)));
  const realTensor = batchTensor(train, realSample, arch);
  const realDiversity = meanPairwiseDistance((await realTensor.data()) as Float32Array, realSample.length, imageSize);
  realTensor.dispose();
  const gan: GanEpochRecord[] = loaded ? loaded.history : [];
  let generatorSteps = loaded ? loaded.history[loaded.history.length - 1].generatorSteps : 0;
  const allIndices = Array.from({ length: train.count }, (_, i) => i);
  for (let epoch = 1; !loaded && epoch <= ganEpochs && generatorSteps < maxGeneratorSteps; epoch++) {
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
      if (!Number.isFinite(criticLoss)) throw new Error(`trainFanogan: the critic diverged at epoch ${epoch} (loss ${criticLoss}); lower ganLearningRate`);
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
    log(
      `GAN epoch ${epoch}/${ganEpochs}: W ${record.wassersteinEstimate.toPrecision(4)}, GP ${record.gradientPenalty.toPrecision(3)}, G ${record.generatorLoss.toPrecision(4)}, ` +
        `diversity ${record.diversityRatio.toFixed(3)} of real, ${generatorSteps} generator steps, ${record.seconds.toFixed(1)} s`,
    );
  }
  criticOptimizer.dispose();
  generatorOptimizer.dispose();
  fixedZ.dispose();
  const ganMs = Date.now() - ganStart;
  const ratios = gan.slice(gan.length > 1 ? 1 : 0).map((r) => r.diversityRatio);
  const stability = {
    minDiversityRatio: Math.min(...ratios),
    finalDiversityRatio: gan[gan.length - 1].diversityRatio,
    collapseSuspected: gan[gan.length - 1].diversityRatio < COLLAPSE_LIMIT,
    collapseLimit: COLLAPSE_LIMIT,
  };
  if (stability.collapseSuspected) log(`warning: generated samples are ${stability.finalDiversityRatio.toFixed(3)} as diverse as real images (< ${COLLAPSE_LIMIT}): mode collapse suspected`);

  // ---------- stage 2: izi_f encoder (generator and critic frozen, in inference mode) ----------
  const encoderStart = Date.now();
  const encoderOptimizer = tf.train.adam(encoderLearningRate, 0.5, 0.999);
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
  // Warm start with ziz (Schlegl et al.'s other encoder loss): ||z - E(G(z))||^2 on generated images puts
  // E's outputs where the prior lives. From a fresh encoder (outputs near z = 0) izi_f alone can stall:
  // near z = 0 the generator's first ReLUs may all be off, so izi_f has no gradient to follow.
  const warmupSteps = Math.max(1, Math.floor(train.count / batch));
  let warmupLoss = Number.NaN;
  for (let step = 0; step < warmupSteps; step++) {
    const z = uniformLatent(batch, arch.zDim, random);
    const generated = generator.apply(z, { training: false }) as tf.Tensor;
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(encoder.apply(generated, { training: true }) as tf.Tensor, z)) as tf.Scalar, encoderVariables);
    encoderOptimizer.applyGradients(named(grads));
    warmupLoss = (await value.data())[0];
    tf.dispose([z, generated, value, ...Object.values(grads)]);
  }
  log(`encoder warm start (ziz, ${warmupSteps} steps): ${warmupLoss.toPrecision(4)}`);
  const encoderHistory: EncoderEpochRecord[] = [];
  for (let epoch = 1; epoch <= encoderEpochs; epoch++) {
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
      if (!Number.isFinite(loss)) throw new Error(`trainFanogan: the encoder diverged at epoch ${epoch} (loss ${loss}); lower encoderLearningRate`);
      sums.loss += loss;
      sums.image += image;
      sums.feature += feature;
      sums.steps++;
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
    log(`encoder epoch ${epoch}/${encoderEpochs}: izi_f ${record.loss.toPrecision(4)} (image ${record.imageResidual.toPrecision(4)}, feature ${record.featureResidual.toPrecision(4)}), val ${record.valLoss.toPrecision(4)}, ${record.seconds.toFixed(1)} s`);
  }
  encoderOptimizer.dispose();
  const encoderMs = Date.now() - encoderStart;

  // ---------- export and calibration ----------
  const calibrationStart = Date.now();
  const inference = buildInferenceGraph(arch, encoder, generator, critic);
  await saveModelToDir(inference, runDir);
  await saveModelToDir(generator, join(runDir, 'gan', 'generator'));
  await saveModelToDir(critic, join(runDir, 'gan', 'critic'));
  await saveModelToDir(encoder, join(runDir, 'gan', 'encoder'));
  const goodPixels = new GoodPixels();
  const scores = await scoreFanoganBatches(inference, asAsync(arrayBatches(validation, imageSize, batch)), arch, score, goodPixels.add);
  const { calibration, threshold } = calibrate(scores, options.threshold ?? DEFAULT_THRESHOLD, `validation split of the normal training images (${scores.length})`, goodPixels);
  const calibrationMs = Date.now() - calibrationStart;

  const card: ModelCard = {
    schemaVersion: MODEL_CARD_SCHEMA_VERSION,
    family: 'fanogan',
    name: `fanogan-${arch.size}px-${arch.channels === 1 ? 'grey' : 'rgb'}`,
    description: `f-AnoGAN (WGAN-GP DCGAN + izi_f encoder) trained on ${source.description}`,
    preprocessing,
    input: { name: 'input', layout: 'NCHW', shape: ['N', arch.channels, arch.size, arch.size] },
    outputs: fanoganOutputs(arch),
    score,
    threshold,
    calibration,
    training: {
      dataFingerprint: await source.fingerprint(),
      dataDescription: source.description,
      imageCount: train.count + validation.count,
      epochs: gan.length + encoderHistory.length,
      seed,
      backend: selection.backend,
      loss: `WGAN-GP (lambda ${lambda}, nCritic ${nCritic}), then encoder izi_f (kappa ${kappa})`,
      ...(options.command ? { command: options.command } : {}),
    },
    createdAt: new Date().toISOString(),
    producer: { trainer: await trainerVersion() },
    extras: {
      fanogan: {
        architecture: arch,
        ganEpochs: gan.length,
        generatorSteps,
        encoderEpochs: encoderHistory.length,
        batch,
        nCritic,
        gradientPenalty: lambda,
        ganLearningRate,
        encoderLearningRate,
        latentPrior: 'uniform(-1, 1); encoder output tanh',
        ...(loaded ? { ganFrom: loaded.dir } : {}),
        stability,
      },
      skippedFiles: source.skipped(),
    },
  };
  const validCard = validateModelCard(card);
  const cardPath = join(runDir, 'model-card.json');
  await writeFileAtomic(cardPath, JSON.stringify(validCard, null, 2));
  await writeFile(
    join(runDir, 'history.json'),
    JSON.stringify(
      {
        family: 'fanogan',
        status: 'completed',
        stabilityCheck: `per GAN epoch: mean pairwise RMS distance of ${SAMPLE_COUNT} samples from a fixed z over that of ${realSample.length} real training images (diversityRatio); below ${COLLAPSE_LIMIT} = collapse suspected; grids in samples/`,
        stability,
        ...(loaded ? { ganFrom: loaded.dir } : {}),
        encoderWarmStart: { loss: 'ziz: mean (z - E(G(z)))^2', steps: warmupSteps, finalLoss: warmupLoss },
        gan,
        encoder: encoderHistory,
      },
      null,
      2,
    ),
  );
  log(`model and card written to ${runDir} (threshold ${threshold.value.toPrecision(4)})`);
  inference.dispose();
  generator.dispose();
  critic.dispose();
  encoder.dispose();
  return {
    runDir,
    cardPath,
    card: validCard,
    architecture: arch,
    gan,
    encoder: encoderHistory,
    stability,
    backend: selection.backend,
    timings: { totalMs: Date.now() - startedAt, ganMs, encoderMs, calibrationMs },
  };
}
