import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateModelCard, type RawImage } from '@residuum/scoring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildCritic,
  buildEncoder,
  buildGenerator,
  fanoganPreprocessing,
  meanPairwiseDistance,
  registerComparisonGradients,
  trainFanogan,
  type FanoganArchitecture,
  type FanoganTrainResult,
} from '../../src/families/fanogan/index.js';
import { createMemorySource } from '../../src/training/data.js';
import { createRandom } from '../../src/random.js';
import { useCpuBackend } from '../helpers.js';

const SIZE = 16;
const ARCH: FanoganArchitecture = { size: SIZE, channels: 1, zDim: 8, baseFilters: 4 };

/** Good parts: a bright disc on a dark background, seeded position jitter and noise (grey). */
function goodImage(seed: number): RawImage {
  const random = createRandom(seed);
  const cx = 8 + random.uniform(-1.5, 1.5);
  const cy = 8 + random.uniform(-1.5, 1.5);
  const data = new Uint8Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < 25;
      data[y * SIZE + x] = Math.max(0, Math.min(255, Math.round((inside ? 200 : 40) + random.uniform(-10, 10))));
    }
  }
  return { data, width: SIZE, height: SIZE, channels: 1 };
}

beforeAll(async () => {
  await useCpuBackend();
  registerComparisonGradients();
});

describe('f-AnoGAN networks', () => {
  it('have the DCGAN shapes and ranges', () => {
    const generator = buildGenerator(ARCH, 1);
    const critic = buildCritic(ARCH, 2);
    const encoder = buildEncoder(ARCH, 3);
    tf.tidy(() => {
      const z = tf.randomUniform([3, ARCH.zDim], -1, 1, 'float32', 4);
      const image = generator.predict(z) as tf.Tensor;
      expect(image.shape).toEqual([3, SIZE, SIZE, 1]);
      expect(tf.max(tf.abs(image)).dataSync()[0]).toBeLessThanOrEqual(1);
      const [score, features] = critic.predict(image) as tf.Tensor[];
      expect(score.shape).toEqual([3, 1]);
      expect(features.shape).toEqual([3, 4, 4, ARCH.baseFilters * 2]);
      const code = encoder.predict(image) as tf.Tensor;
      expect(code.shape).toEqual([3, ARCH.zDim]);
      expect(tf.max(tf.abs(code)).dataSync()[0]).toBeLessThanOrEqual(1);
    });
    expect(() => buildGenerator({ ...ARCH, size: 24 }, 1)).toThrow(/power of two/);
    expect(() => buildEncoder({ ...ARCH, zDim: 0 }, 1)).toThrow(/zDim/);
  });

  it('compute the gradient penalty gradient that finite differences agree with (second order through LeakyReLU)', () => {
    const critic = buildCritic(ARCH, 5);
    const variables = critic.trainableWeights.map((w) => w.read() as tf.Variable);
    // Larger weights make the input gradients O(1), so float32 finite differences of (||g|| - 1)^2 resolve the change.
    for (const v of variables) v.assign(tf.mul(v, 8));
    const x = tf.randomNormal([4, SIZE, SIZE, 1], 0, 1, 'float32', 6);
    const penalty = (): tf.Scalar =>
      tf.tidy(() => {
        const g = tf.grad((input: tf.Tensor) => tf.sum((critic.apply(input) as tf.Tensor[])[0]))(x);
        const norms = tf.sqrt(tf.add(tf.sum(tf.square(g), [1, 2, 3]), 1e-12));
        return tf.mean(tf.square(tf.sub(norms, 1))) as tf.Scalar;
      });
    const { grads } = tf.variableGrads(penalty, variables);
    const names = Object.keys(grads);
    const kernelGradients = names.filter((n) => n.includes('kernel')).map((n) => tf.norm(grads[n]).dataSync()[0]);
    expect(kernelGradients.every((v) => v > 0 && Number.isFinite(v))).toBe(true);
    // Directional derivative along the analytic gradient equals its squared norm / norm.
    const byName = new Map(variables.map((v) => [v.name, v]));
    const base = names.map((n) => (byName.get(n) as tf.Variable).clone());
    const gradientNorm = Math.sqrt(names.reduce((sum, n) => sum + tf.sum(tf.square(grads[n])).dataSync()[0], 0));
    const shifted = (sign: number, eps: number): number => {
      names.forEach((n, i) => (byName.get(n) as tf.Variable).assign(tf.add(base[i], tf.mul(grads[n], (sign * eps) / gradientNorm))));
      return penalty().dataSync()[0];
    };
    // Small enough that no LeakyReLU input changes sign along the step (larger steps cross kinks).
    const eps = 1e-3;
    const finiteDifference = (shifted(1, eps) - shifted(-1, eps)) / (2 * eps);
    names.forEach((n, i) => (byName.get(n) as tf.Variable).assign(base[i]));
    expect(Math.abs(finiteDifference - gradientNorm) / gradientNorm).toBeLessThan(0.02);
    tf.dispose([x, ...base, ...Object.values(grads)]);
  });

  it('measures diversity: identical samples have distance 0, distinct ones more', () => {
    const same = new Float32Array(3 * 4).fill(0.5);
    expect(meanPairwiseDistance(same, 3, 4)).toBe(0);
    const distinct = Float32Array.from({ length: 12 }, (_, i) => (i < 4 ? -1 : i < 8 ? 0 : 1));
    expect(meanPairwiseDistance(distinct, 3, 4)).toBeCloseTo((1 + 2 + 1) / 3, 6);
    expect(() => meanPairwiseDistance(same, 1, 4)).toThrow(/at least 2/);
  });
});

describe('trainFanogan options', () => {
  it('rejects bad options naming the option and the reason', async () => {
    const dataSource = createMemorySource({ images: [goodImage(1), goodImage(2)], preprocessing: fanoganPreprocessing(SIZE, 1), validationFraction: 0.5, seed: 1 });
    await expect(trainFanogan({ out: '' })).rejects.toThrow(/out \(the run folder\)/);
    await expect(trainFanogan({ out: '/tmp/x' })).rejects.toThrow(/data \(the dataset folder\) or dataSource/);
    await expect(trainFanogan({ out: '/tmp/x', dataSource, size: 24 })).rejects.toThrow(/size must be a power of two >= 8, got 24/);
    await expect(trainFanogan({ out: '/tmp/x', dataSource, batch: 1 })).rejects.toThrow(/batch must be at least 2/);
    await expect(trainFanogan({ out: '/tmp/x', dataSource, kappa: -1 })).rejects.toThrow(/kappa must be a non-negative number/);
    await expect(trainFanogan({ out: '/tmp/x', dataSource, channels: 2 as 1 })).rejects.toThrow(/channels must be 1 or 3/);
  });
});

describe('trainFanogan (16x16 grey, cpu)', () => {
  let result: FanoganTrainResult;
  let tmp: string;
  let dir: string;
  const images = Array.from({ length: 40 }, (_, i) => goodImage(100 + i));

  // One training run shared by the tests below.
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'residuum-fanogan-'));
    dir = join(tmp, 'run');
    result = await trainFanogan({
      out: dir,
      dataSource: createMemorySource({ images, preprocessing: fanoganPreprocessing(SIZE, 1), validationFraction: 0.2, seed: 3 }),
      size: SIZE,
      channels: 1,
      zDim: ARCH.zDim,
      baseFilters: ARCH.baseFilters,
      ganEpochs: 3,
      encoderEpochs: 6,
      batch: 8,
      nCritic: 2,
      ganLearningRate: 1e-3,
      encoderLearningRate: 3e-3,
      seed: 11,
      backend: 'cpu',
      quiet: true,
    });
  }, 240_000);
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('logs finite, moving GAN losses and writes a sample grid per epoch', async () => {
    expect(result.gan).toHaveLength(3);
    for (const record of result.gan) {
      for (const value of [record.wassersteinEstimate, record.criticLoss, record.gradientPenalty, record.generatorLoss, record.diversityRatio]) expect(Number.isFinite(value)).toBe(true);
      expect(existsSync(join(dir, record.samplesPng))).toBe(true);
    }
    expect(result.gan[0].generatorSteps).toBe(2); // 32 training images / batch 8 = 4 critic steps, nCritic 2
    expect(new Set(result.gan.map((r) => r.criticLoss)).size).toBe(3);
    expect(new Set(result.gan.map((r) => r.generatorLoss)).size).toBe(3);
    const png = await readFile(join(dir, result.gan[0].samplesPng));
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    // One history.json shape for every family: epochs of each stage, family details apart.
    const history = JSON.parse(await readFile(join(dir, 'history.json'), 'utf8')) as { family: string; status: string; epochs: Array<{ stage: string; images: number }>; details: { stability: { collapseLimit: number } } };
    expect(history.family).toBe('fanogan');
    expect(history.status).toBe('completed');
    expect(history.epochs.filter((e) => e.stage === 'gan')).toHaveLength(3);
    expect(history.epochs.filter((e) => e.stage === 'encoder')).toHaveLength(6);
    expect(history.epochs.every((e) => e.images > 0)).toBe(true);
    expect(history.details.stability.collapseLimit).toBeGreaterThan(0);
  });

  it('trains the encoder: the izi_f loss falls', () => {
    const losses = result.encoder.map((r) => r.loss);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(result.encoder[result.encoder.length - 1].valLoss).toBeLessThan(result.encoder[0].valLoss * 1.05);
  });

  it('writes a valid fanogan card with kappa and both outputs', async () => {
    const card = validateModelCard(JSON.parse(await readFile(join(dir, 'model-card.json'), 'utf8')));
    expect(card.family).toBe('fanogan');
    expect(card.outputs.map((o) => [o.name, o.meaning])).toEqual([
      ['reconstruction', 'reconstruction'],
      ['disc_feature_residual', 'discriminator-feature-residual'],
    ]);
    expect(card.outputs[1].shape).toEqual(['N', 1]);
    expect(card.score.map.kind).toBe('squared');
    expect(card.score.image.kappa).toBe(1);
    expect(card.calibration.count).toBe(8);
    expect(card.threshold.value).toBeGreaterThanOrEqual(card.calibration.min);
  });

  it('retrains only the encoder from a previous run (ganFrom) and checks the architecture', async () => {
    const dataSource = createMemorySource({ images, preprocessing: fanoganPreprocessing(SIZE, 1), validationFraction: 0.2, seed: 3 });
    const common = { dataSource, size: SIZE, channels: 1 as const, baseFilters: ARCH.baseFilters, encoderEpochs: 2, batch: 8, seed: 12, backend: 'cpu' as const, quiet: true };
    const again = await trainFanogan({ ...common, out: join(tmp, 'encoder-only'), zDim: ARCH.zDim, ganFrom: dir });
    expect(again.gan).toEqual(result.gan);
    expect(again.encoder).toHaveLength(2);
    expect((again.card?.extras?.fanogan as { ganFrom?: string }).ganFrom).toBe(dir);
    await expect(trainFanogan({ ...common, out: join(tmp, 'mismatch'), zDim: ARCH.zDim + 1, ganFrom: dir })).rejects.toThrow(/its generator maps z 8 to \[16,16,1\], the options ask for z 9/);
    await expect(trainFanogan({ ...common, out: join(tmp, 'missing'), zDim: ARCH.zDim, ganFrom: join(tmp, 'nowhere') })).rejects.toThrow(/ganFrom: cannot use .*history\.json/);
  }, 60_000);

  // Conversion, onnx.checker, ONNX parity and Node-runtime scoring are tested end to end in tests/e2e (test/fanogan.test.ts).
});
