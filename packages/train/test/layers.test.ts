import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { McDropout, NeighborConv2D, NEIGHBOR_OFFSETS, setMcDropout, VaeSampling } from '../src/layers/index.js';
import { loadModelFromDir, saveModelToDir } from '../src/training/model-io.js';
import { seededValues, useCpuBackend, withTempDir } from './helpers.js';

beforeAll(useCpuBackend);

function neighborModel(size: number, channelsIn: number, units: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, channelsIn] });
  const output = new NeighborConv2D({ units, activation: 'relu', seed: 7, name: 'neighbor' }).apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

/** The method as published: zero-pad, 8 shifted copies concatenated channel-wise, 1x1 conv + bias + ReLU. */
function shiftConcatReference(x: tf.Tensor4D, kernel: tf.Tensor3D, bias: tf.Tensor1D): tf.Tensor4D {
  const [, h, w, c] = x.shape;
  const units = kernel.shape[2];
  const padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  const shifts = NEIGHBOR_OFFSETS.map(([dy, dx]) => padded.slice([0, 1 + dy, 1 + dx, 0], [-1, h, w, c]));
  const stacked = tf.concat(shifts, 3);
  const pointwise = kernel.reshape([1, 1, 8 * c, units]) as tf.Tensor4D;
  return tf.relu(tf.add(tf.conv2d(stacked, pointwise, 1, 'valid'), bias)) as tf.Tensor4D;
}

describe('NeighborConv2D', () => {
  it('has 8 * C_in * units + units parameters', () => {
    expect(neighborModel(8, 3, 5).countParams()).toBe(8 * 3 * 5 + 5);
    expect(neighborModel(8, 1, 4).countParams()).toBe(8 * 1 * 4 + 4);
  });

  it('never depends on the centre pixel, but does on its neighbours', () => {
    const model = neighborModel(7, 3, 4);
    const base = seededValues(7 * 7 * 3, 1);
    const perturbed = base.slice();
    for (let c = 0; c < 3; c++) perturbed[(3 * 7 + 3) * 3 + c] += 5;
    const a = (model.predict(tf.tensor4d(base, [1, 7, 7, 3])) as tf.Tensor).arraySync() as number[][][][];
    const b = (model.predict(tf.tensor4d(perturbed, [1, 7, 7, 3])) as tf.Tensor).arraySync() as number[][][][];
    expect(b[0][3][3]).toEqual(a[0][3][3]);
    const neighbourChange = b[0][3][4].reduce((sum, v, i) => sum + Math.abs(v - a[0][3][4][i]), 0);
    expect(neighbourChange).toBeGreaterThan(0);
  });

  it('equals the 8-shift-concat + 1x1 convolution formulation with C_in > 1', () => {
    const model = neighborModel(6, 3, 5);
    const layer = model.getLayer('neighbor');
    const [kernel] = layer.getWeights() as [tf.Tensor3D, tf.Tensor1D];
    const bias = tf.tensor1d(Array.from(seededValues(5, 3), (v) => v - 0.5));
    layer.setWeights([kernel, bias]);
    const x = tf.tensor4d(Array.from(seededValues(2 * 6 * 6 * 3, 9), (v) => v * 2 - 1), [2, 6, 6, 3]);
    const actual = (model.predict(x) as tf.Tensor).dataSync();
    const expected = shiftConcatReference(x, kernel, bias).dataSync();
    expect(actual.length).toBe(expected.length);
    let maxDiff = 0;
    for (let i = 0; i < actual.length; i++) maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('survives a save/load round trip with identical predictions', async () => {
    const model = neighborModel(6, 2, 3);
    const x = tf.tensor4d(seededValues(6 * 6 * 2, 4), [1, 6, 6, 2]);
    const before = (model.predict(x) as tf.Tensor).dataSync();
    await withTempDir(async (dir) => {
      await saveModelToDir(model, dir);
      const loaded = await loadModelFromDir(dir);
      expect(loaded.getLayer('neighbor')).toBeInstanceOf(NeighborConv2D);
      expect(loaded.getLayer('neighbor').getConfig()).toMatchObject({ units: 3, activation: 'relu', useBias: true });
      expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(before));
    });
  });

  it('rejects bad arguments clearly', () => {
    expect(() => new NeighborConv2D({ units: 0 })).toThrow(/units must be a positive integer/);
    expect(() => new NeighborConv2D({ units: 2, activation: 'softmax' as 'relu' })).toThrow(/unsupported activation/);
  });
});

describe('McDropout', () => {
  function dropoutModel(rate: number): tf.LayersModel {
    const input = tf.input({ shape: [16] });
    const output = new McDropout({ rate, seed: 3, name: 'mc' }).apply(input) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: output });
  }

  it('is the identity at inference unless MC mode is on, then drops and rescales', () => {
    const model = dropoutModel(0.5);
    const x = tf.ones([4, 16]);
    expect(Array.from((model.predict(x) as tf.Tensor).dataSync()).every((v) => v === 1)).toBe(true);
    expect(setMcDropout(model, true)).toBe(1);
    const first = Array.from((model.predict(x) as tf.Tensor).dataSync());
    const second = Array.from((model.predict(x) as tf.Tensor).dataSync());
    expect(first.every((v) => v === 0 || Math.abs(v - 2) < 1e-6)).toBe(true);
    expect(first.some((v) => v === 0)).toBe(true);
    expect(first).not.toEqual(second);
    setMcDropout(model, false);
    expect(Array.from((model.predict(x) as tf.Tensor).dataSync()).every((v) => v === 1)).toBe(true);
  });

  it('is active in training mode and serializes its rate', async () => {
    const model = dropoutModel(0.25);
    const out = Array.from((model.apply(tf.ones([8, 16]), { training: true }) as tf.Tensor).dataSync());
    expect(out.some((v) => v === 0)).toBe(true);
    await withTempDir(async (dir) => {
      await saveModelToDir(model, dir);
      const loaded = await loadModelFromDir(dir);
      const layer = loaded.getLayer('mc');
      expect(layer).toBeInstanceOf(McDropout);
      expect(layer.getConfig()).toMatchObject({ rate: 0.25 });
    });
  });

  it('rejects a rate outside [0, 1)', () => {
    expect(() => new McDropout({ rate: 1 })).toThrow(/rate must be in \[0, 1\)/);
  });
});

describe('VaeSampling', () => {
  it('returns the mean at inference and mean + sigma * eps in training', () => {
    const mean = tf.input({ shape: [32] });
    const logVar = tf.input({ shape: [32] });
    const z = new VaeSampling({ seed: 1 }).apply([mean, logVar]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [mean, logVar], outputs: z });
    const m = tf.fill([64, 32], 3);
    const lv = tf.fill([64, 32], Math.log(4));
    expect(Array.from((model.predict([m, lv]) as tf.Tensor).dataSync()).every((v) => v === 3)).toBe(true);
    const sampled = Array.from((model.apply([m, lv], { training: true }) as tf.Tensor).dataSync());
    const avg = sampled.reduce((a, b) => a + b, 0) / sampled.length;
    const sd = Math.sqrt(sampled.reduce((a, b) => a + (b - avg) ** 2, 0) / sampled.length);
    expect(Math.abs(avg - 3)).toBeLessThan(0.2);
    expect(Math.abs(sd - 2)).toBeLessThan(0.2);
  });
});
