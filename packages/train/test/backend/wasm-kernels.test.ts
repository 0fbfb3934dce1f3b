import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { createSeededRandom as seededRandom } from '@residuum/scoring';

function randomArray(random: () => number, size: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = random() * 2 - 1;
  return out;
}

/** Runs `compute` on a backend and returns every output as a plain array. */
async function on(backend: 'cpu' | 'wasm', compute: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outputs = tf.tidy(compute);
  const values = await Promise.all(outputs.map(async (t) => Float32Array.from(await t.data())));
  tf.dispose(outputs);
  return values;
}

function expectClose(actual: Float32Array, expected: Float32Array, label: string): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  const tolerance = 1e-4 * Math.max(1, scale);
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= worst)) {
      worst = error;
      worstIndex = i;
    }
  }
  expect(worst, `${label}: max |wasm - cpu| at ${worstIndex} (scale ${scale.toFixed(3)})`).toBeLessThanOrEqual(tolerance);
}

interface ConvCase {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  stride: 1 | 2;
  pad: 'same' | 'valid';
}

function describeCase(c: ConvCase): string {
  return `x ${c.batch}x${c.height}x${c.width}x${c.inChannels} k${c.kernel.join('x')}->${c.outChannels} s${c.stride} ${c.pad}`;
}

/** Seeded random conv geometries: odd and even sizes, both strides and paddings, batch and channels > 1. */
function convCases(seed: number, count: number): ConvCase[] {
  const random = seededRandom(seed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)];
  const cases: ConvCase[] = [];
  for (let i = 0; i < count; i++) {
    cases.push({
      batch: pick([1, 2, 3]),
      height: pick([5, 6, 7, 9, 11]),
      width: pick([5, 7, 8, 10]),
      inChannels: pick([1, 2, 3, 5]),
      outChannels: pick([1, 2, 4, 6, 8, 9]),
      kernel: [pick([1, 2, 3, 5]), pick([1, 3, 4])],
      stride: i % 2 === 0 ? 1 : 2,
      pad: i % 4 < 2 ? 'same' : 'valid',
    });
  }
  return cases;
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('wasm training kernels match the cpu backend', () => {
  // Regression shapes: XNNPACK's SAME mode was wrong for these (stride 2, kernel taller than wide).
  const regressionCases: ConvCase[] = [
    { batch: 1, height: 6, width: 8, inChannels: 2, outChannels: 2, kernel: [5, 1], stride: 2, pad: 'same' },
    { batch: 2, height: 9, width: 6, inChannels: 3, outChannels: 4, kernel: [4, 2], stride: 2, pad: 'same' },
    // Cout >= 8 takes the per-tap GEMM path of Conv2DBackpropFilter, smaller Cout the conv form.
    { batch: 2, height: 7, width: 9, inChannels: 3, outChannels: 8, kernel: [3, 3], stride: 2, pad: 'valid' },
    { batch: 3, height: 6, width: 5, inChannels: 2, outChannels: 9, kernel: [3, 2], stride: 1, pad: 'same' },
    { batch: 2, height: 9, width: 8, inChannels: 1, outChannels: 8, kernel: [5, 4], stride: 2, pad: 'same' },
    { batch: 2, height: 8, width: 8, inChannels: 4, outChannels: 12, kernel: [3, 3], stride: 2, pad: 'same' },
  ];

  it.each([...regressionCases, ...convCases(1234, 16)].map((c) => [describeCase(c), c] as const))('conv2d forward and gradients: %s', async (_label, c) => {
    const random = seededRandom(c.batch * 1000 + c.height * 100 + c.inChannels * 10 + c.outChannels);
    const xShape: [number, number, number, number] = [c.batch, c.height, c.width, c.inChannels];
    const wShape: [number, number, number, number] = [c.kernel[0], c.kernel[1], c.inChannels, c.outChannels];
    const xData = randomArray(random, xShape.reduce((a, b) => a * b));
    const wData = randomArray(random, wShape.reduce((a, b) => a * b));
    const compute = (): tf.Tensor[] => {
      const x = tf.tensor4d(xData, xShape);
      const w = tf.tensor4d(wData, wShape);
      const f = (xi: tf.Tensor4D, wi: tf.Tensor4D): tf.Tensor => tf.conv2d(xi, wi, c.stride, c.pad);
      const y = f(x, w);
      // A non-uniform upstream gradient, so every position of dy matters.
      const upstream = tf.sin(tf.range(0, y.size).reshape(y.shape));
      const [dx, dw] = tf.grads((xi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.mul(f(xi as tf.Tensor4D, wi as tf.Tensor4D), upstream)))([x, w]);
      return [y, dx, dw];
    };
    const expected = await on('cpu', compute);
    const actual = await on('wasm', compute);
    ['forward', 'dx (Conv2DBackpropInput)', 'dW (Conv2DBackpropFilter)'].forEach((name, i) => expectClose(actual[i], expected[i], name));
  });

  it.each([...regressionCases, ...convCases(99, 16)].map((c) => [describeCase(c), c] as const))('conv2dTranspose forward and gradients: %s', async (_label, c) => {
    const random = seededRandom(c.batch * 7 + c.height * 31 + c.outChannels * 3 + c.kernel[0]);
    // conv2dTranspose maps [N, H, W, Cout] to the input shape of the conv it transposes.
    const probe = tf.tidy(() => tf.conv2d(tf.zeros([c.batch, c.height, c.width, c.inChannels]) as tf.Tensor4D, tf.zeros([c.kernel[0], c.kernel[1], c.inChannels, c.outChannels]) as tf.Tensor4D, c.stride, c.pad));
    const yShape = probe.shape as [number, number, number, number];
    probe.dispose();
    const outShape: [number, number, number, number] = [c.batch, c.height, c.width, c.inChannels];
    const wShape: [number, number, number, number] = [c.kernel[0], c.kernel[1], c.inChannels, c.outChannels];
    const yData = randomArray(random, yShape.reduce((a, b) => a * b));
    const wData = randomArray(random, wShape.reduce((a, b) => a * b));
    const compute = (): tf.Tensor[] => {
      const y = tf.tensor4d(yData, yShape);
      const w = tf.tensor4d(wData, wShape);
      const f = (yi: tf.Tensor4D, wi: tf.Tensor4D): tf.Tensor => tf.conv2dTranspose(yi, wi, outShape, c.stride, c.pad);
      const out = f(y, w);
      const upstream = tf.cos(tf.range(0, out.size).reshape(out.shape));
      const [dy, dw] = tf.grads((yi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.mul(f(yi as tf.Tensor4D, wi as tf.Tensor4D), upstream)))([y, w]);
      return [out, dy, dw];
    };
    const expected = await on('cpu', compute);
    const actual = await on('wasm', compute);
    ['forward (Conv2DBackpropInput)', 'dy', 'dW (Conv2DBackpropFilter)'].forEach((name, i) => expectClose(actual[i], expected[i], name));
  });

  it('conv2dTranspose with stride 3 and explicit padding (phase form and its sub-pixel fallback) matches', async () => {
    const random = seededRandom(77);
    // pad 1 with a 2x2 kernel and stride 3: output phase 2 needs dy rows after q, the case the phase form hands back.
    for (const [kernel, pad] of [[[2, 2], 1], [[3, 2], 'same'], [[4, 3], 'valid']] as const) {
      const outShape: [number, number, number, number] = [2, 8, 7, 3];
      const probe = tf.tidy(() => tf.conv2d(tf.zeros(outShape) as tf.Tensor4D, tf.zeros([kernel[0], kernel[1], 3, 4]) as tf.Tensor4D, 3, pad));
      const yShape = probe.shape as [number, number, number, number];
      probe.dispose();
      const yData = randomArray(random, yShape.reduce((a, b) => a * b));
      const wData = randomArray(random, kernel[0] * kernel[1] * 3 * 4);
      const compute = (): tf.Tensor[] => {
        const y = tf.tensor4d(yData, yShape);
        const w = tf.tensor4d(wData, [kernel[0], kernel[1], 3, 4]);
        return [tf.conv2dTranspose(y, w, outShape, 3, pad)];
      };
      const expected = await on('cpu', compute);
      const actual = await on('wasm', compute);
      expectClose(actual[0], expected[0], `conv2dTranspose k${kernel.join('x')} s3 pad ${pad}`);
    }
  });

  it('tile matches for float32, int32 and bool on several rank/reps combinations', async () => {
    const random = seededRandom(7);
    const cases: Array<{ shape: number[]; reps: number[] }> = [
      { shape: [1, 1, 1, 5], reps: [3, 4, 6, 1] },
      { shape: [2, 3], reps: [3, 2] },
      { shape: [4], reps: [5] },
      { shape: [2, 1, 3, 2], reps: [1, 3, 1, 2] },
      { shape: [3, 2, 2], reps: [2, 1, 3] },
    ];
    for (const { shape, reps } of cases) {
      const size = shape.reduce((a, b) => a * b);
      const data = randomArray(random, size);
      const compute = (): tf.Tensor[] => {
        const x = tf.tensor(data, shape);
        return [tf.tile(x, reps), tf.tile(tf.cast(tf.mul(x, 10), 'int32'), reps).toFloat(), tf.tile(tf.greater(x, 0), reps).toFloat()];
      };
      const expected = await on('cpu', compute);
      const actual = await on('wasm', compute);
      expected.forEach((values, i) => expectClose(actual[i], values, `tile ${JSON.stringify(shape)} x ${JSON.stringify(reps)} output ${i}`));
    }
  });

  it('matMul with every transpose combination and its gradients match (BatchMatMul)', async () => {
    const random = seededRandom(31);
    const aData = randomArray(random, 2 * 5 * 7);
    const bData = randomArray(random, 2 * 7 * 3);
    const compute = (): tf.Tensor[] => {
      const a = tf.tensor3d(aData, [2, 5, 7]);
      const b = tf.tensor3d(bData, [2, 7, 3]);
      const aT = tf.transpose(a, [0, 2, 1]);
      const bT = tf.transpose(b, [0, 2, 1]);
      const f = (ai: tf.Tensor, bi: tf.Tensor): tf.Scalar => tf.sum(tf.sin(tf.matMul(ai as tf.Tensor3D, bi as tf.Tensor3D)));
      return [
        tf.matMul(a, b), tf.matMul(aT, b, true, false), tf.matMul(a, bT, false, true), tf.matMul(aT, bT, true, true),
        ...tf.grads(f)([a, b]),
      ];
    };
    const expected = await on('cpu', compute);
    const actual = await on('wasm', compute);
    expected.forEach((values, i) => expectClose(actual[i], values, `matMul case ${i}`));
  });

  it('sum and mean over leading axes (fast path) and other axes (stock) match', async () => {
    const random = seededRandom(21);
    const shape = [3, 4, 5, 6];
    const data = randomArray(random, 3 * 4 * 5 * 6);
    const compute = (): tf.Tensor[] => {
      const x = tf.tensor4d(data, [3, 4, 5, 6]);
      return [
        tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1, 2]), tf.sum(x, 0), tf.mean(x, [1, 0], true),
        tf.sum(x, [1, 2]), tf.mean(x, -1), tf.sum(x), tf.mean(x, [0, 1, 2, 3]),
      ];
    };
    const expected = await on('cpu', compute);
    const actual = await on('wasm', compute);
    expected.forEach((values, i) => expectClose(actual[i], values, `reduction ${i} of ${JSON.stringify(shape)}`));
  });

  it('batch-norm (moments + batchNorm) gradients match, the path that tiles per-channel vectors', async () => {
    const random = seededRandom(11);
    const shape: [number, number, number, number] = [3, 5, 7, 4];
    const xData = randomArray(random, 3 * 5 * 7 * 4);
    const gammaData = randomArray(random, 4);
    const compute = (): tf.Tensor[] => {
      const x = tf.tensor4d(xData, shape);
      const gamma = tf.tensor1d(gammaData);
      const beta = tf.tensor1d([0.1, -0.2, 0.3, 0]);
      const upstream = tf.sin(tf.range(0, x.size).reshape(shape));
      const f = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar => {
        const { mean, variance } = tf.moments(xi, [0, 1, 2]);
        return tf.sum(tf.mul(tf.batchNorm(xi as tf.Tensor4D, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3), upstream));
      };
      return tf.grads(f)([x, gamma, beta]);
    };
    const expected = await on('cpu', compute);
    const actual = await on('wasm', compute);
    ['dx', 'dgamma', 'dbeta'].forEach((name, i) => expectClose(actual[i], expected[i], name));
  });

  it('maxPool forward and gradient (MaxPoolGrad) match', async () => {
    const random = seededRandom(5);
    const poolCases: Array<[[number, number, number, number], 'same' | 'valid']> = [[[2, 7, 9, 3], 'same'], [[2, 8, 6, 2], 'valid'], [[1, 6, 8, 2], 'same']];
    for (const [shape, pad] of poolCases) {
      const data = randomArray(random, shape.reduce((a, b) => a * b));
      const compute = (): tf.Tensor[] => {
        const x = tf.tensor4d(data, shape);
        const y = tf.maxPool(x, 2, 2, pad);
        const upstream = tf.sin(tf.range(0, y.size).reshape(y.shape));
        const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xi as tf.Tensor4D, 2, 2, pad), upstream)))(x);
        return [y, dx];
      };
      const expected = await on('cpu', compute);
      const actual = await on('wasm', compute);
      expectClose(actual[0], expected[0], `maxPool ${pad}`);
      expectClose(actual[1], expected[1], `MaxPoolGrad ${pad}`);
    }
  });
});
