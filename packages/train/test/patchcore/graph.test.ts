/**
 * PatchCore's patch features: the reduction matrices (adaptive averaging as torch's adaptive_avg_pool1d
 * per tap, the seeded projection) and the feature graph against a direct computation on the taps.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildPatchCoreHead, buildPatchFeatures, reductionMatrix } from '../../src/families/patchcore/index.js';
import { useCpuBackend } from '../helpers.js';

beforeAll(useCpuBackend);

describe('reductionMatrix', () => {
  it('adaptive averaging gives each tap an equal share of the outputs, torch adaptive_avg_pool1d bins within a tap', () => {
    // Taps of 3 and 4 channels to 2 outputs each: tap 0 bins [0,2) [1,3); tap 1 bins [0,2) [2,4).
    const m = reductionMatrix('adaptive-average', [3, 4], 4, 0);
    const column = (j: number) => Array.from({ length: 7 }, (_, c) => m[c * 4 + j]);
    expect(column(0)).toEqual([0.5, 0.5, 0, 0, 0, 0, 0]);
    expect(column(1)).toEqual([0, 0.5, 0.5, 0, 0, 0, 0]);
    expect(column(2)).toEqual([0, 0, 0, 0.5, 0.5, 0, 0]);
    expect(column(3)).toEqual([0, 0, 0, 0, 0, 0.5, 0.5]);
    expect(() => reductionMatrix('adaptive-average', [3, 4], 5, 0)).toThrow(/evenly over 2 taps: choose a multiple of 2/);
    expect(() => reductionMatrix('adaptive-average', [3, 4], 8, 0)).toThrow(/cannot widen a tap of 3 channels to 4/);
  });

  it('the random projection is seeded', () => {
    expect(reductionMatrix('random-projection', [8, 8], 4, 3)).toEqual(reductionMatrix('random-projection', [8, 8], 4, 3));
    expect(reductionMatrix('random-projection', [8, 8], 4, 3)).not.toEqual(reductionMatrix('random-projection', [8, 8], 4, 4));
    expect(() => reductionMatrix('pca' as never, [8], 4, 0)).toThrow(/unknown patch reduction 'pca'/);
  });
});

describe('patch features and the distance head', () => {
  it('pools 3x3, upsamples the coarse tap, reduces, and the head gives the nearest bank distance', async () => {
    const taps = [
      { name: 'layer2', shape: [4, 4, 2] as [number, number, number] },
      { name: 'layer3', shape: [2, 2, 2] as [number, number, number] },
    ];
    const graph = buildPatchFeatures(taps, 'adaptive-average', 2, 0);
    expect(graph.shape).toEqual({ grid: 4, tapChannels: [2, 2], concatenated: 4, dim: 2 });
    const a = tf.tensor4d(Float32Array.from({ length: 32 }, (_, i) => i % 7), [1, 4, 4, 2]);
    const b = tf.tensor4d(Float32Array.from({ length: 8 }, (_, i) => 10 * i), [1, 2, 2, 2]);
    const features = (graph.model.predict([a, b]) as tf.Tensor).arraySync() as number[][][][];
    // Output 0: mean of layer2's 2 channels averaged over the valid 3x3 neighbourhood of (0, 0).
    const av = a.arraySync()[0];
    let sum = 0;
    let n = 0;
    for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) for (let c = 0; c < 2; c++) (sum += av[y][x][c]), n++;
    expect(features[0][0][0][0]).toBeCloseTo(sum / n, 5);
    const bank = Float32Array.from([features[0][1][1][0], features[0][1][1][1], 100, 100]);
    const head = buildPatchCoreHead(graph, bank, 2);
    const distances = (head.predict([a, b]) as tf.Tensor).arraySync() as number[][][][];
    expect(distances[0][1][1][0]).toBeCloseTo(0, 2);
    const [f0, f1] = features[0][3][2];
    const expected = Math.min(Math.hypot(f0 - bank[0], f1 - bank[1]), Math.hypot(f0 - 100, f1 - 100));
    expect(distances[0][3][2][0]).toBeCloseTo(expected, 3);
    tf.dispose([a, b]);
    head.dispose();
  });
});
