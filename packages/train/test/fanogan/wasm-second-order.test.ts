import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { buildCritic, registerComparisonGradients } from '../../src/families/fanogan/index.js';

// The benchmarks train on wasm: the gradient penalty's second-order gradient must work there too.
describe('WGAN-GP gradient penalty on the wasm backend', () => {
  beforeAll(async () => {
    await initBackend('wasm');
    registerComparisonGradients();
  });

  it('agrees with finite differences and with the cpu backend', async () => {
    const critic = buildCritic({ size: 16, channels: 1, zDim: 8, baseFilters: 4 }, 5);
    const variables = critic.trainableWeights.map((w) => w.read() as tf.Variable);
    for (const v of variables) v.assign(tf.mul(v, 8));
    const x = tf.tensor4d(Float32Array.from({ length: 4 * 256 }, (_, i) => Math.sin(i * 0.37) * 1.5), [4, 16, 16, 1]);
    const penalty = (): tf.Scalar =>
      tf.tidy(() => {
        const g = tf.grad((input: tf.Tensor) => tf.sum((critic.apply(input) as tf.Tensor[])[0]))(x);
        const norms = tf.sqrt(tf.add(tf.sum(tf.square(g), [1, 2, 3]), 1e-12));
        return tf.mean(tf.square(tf.sub(norms, 1))) as tf.Scalar;
      });
    const wasmGradients = tf.variableGrads(penalty, variables).grads;
    expect(tf.getBackend()).toBe('wasm');
    const names = Object.keys(wasmGradients);
    const byName = new Map(variables.map((v) => [v.name, v]));
    const base = names.map((n) => (byName.get(n) as tf.Variable).clone());
    const gradientNorm = Math.sqrt(names.reduce((sum, n) => sum + tf.sum(tf.square(wasmGradients[n])).dataSync()[0], 0));
    const eps = 1e-3;
    const shifted = (sign: number): number => {
      names.forEach((n, i) => (byName.get(n) as tf.Variable).assign(tf.add(base[i], tf.mul(wasmGradients[n], (sign * eps) / gradientNorm))));
      return penalty().dataSync()[0];
    };
    const finiteDifference = (shifted(1) - shifted(-1)) / (2 * eps);
    names.forEach((n, i) => (byName.get(n) as tf.Variable).assign(base[i]));
    expect(Math.abs(finiteDifference - gradientNorm) / gradientNorm).toBeLessThan(0.02);

    // The same gradients on cpu (weights carried over as plain arrays).
    const wasmValues = names.map((n) => wasmGradients[n].dataSync().slice());
    const weightValues = variables.map((v) => ({ shape: v.shape, data: v.dataSync().slice() }));
    const input = x.dataSync().slice();
    await tf.setBackend('cpu');
    const cpuCritic = buildCritic({ size: 16, channels: 1, zDim: 8, baseFilters: 4 }, 5);
    cpuCritic.setWeights(weightValues.map((w) => tf.tensor(w.data, w.shape)));
    const cpuX = tf.tensor4d(input, [4, 16, 16, 1]);
    const cpuVariables = cpuCritic.trainableWeights.map((w) => w.read() as tf.Variable);
    const cpuGradients = tf.variableGrads(
      () =>
        tf.tidy(() => {
          const g = tf.grad((inp: tf.Tensor) => tf.sum((cpuCritic.apply(inp) as tf.Tensor[])[0]))(cpuX);
          const norms = tf.sqrt(tf.add(tf.sum(tf.square(g), [1, 2, 3]), 1e-12));
          return tf.mean(tf.square(tf.sub(norms, 1))) as tf.Scalar;
        }),
      cpuVariables,
    ).grads;
    // Both maps list the gradients in the order of the (identical) variable lists.
    const cpuValues = Object.values(cpuGradients).map((g) => g.dataSync());
    expect(cpuValues.length).toBe(wasmValues.length);
    let worst = 0;
    let scale = 0;
    wasmValues.forEach((w, i) => {
      expect(w.length).toBe(cpuValues[i].length);
      for (let j = 0; j < w.length; j++) {
        worst = Math.max(worst, Math.abs(w[j] - cpuValues[i][j]));
        scale = Math.max(scale, Math.abs(cpuValues[i][j]));
      }
    });
    expect(worst / scale).toBeLessThan(1e-3);
  });
});
