/**
 * PatchCore's patch features: the reduction matrices (adaptive averaging as torch's adaptive_avg_pool1d
 * per tap, the seeded projection) and the feature graph against a direct computation on the taps.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildPatchCoreHead, buildPatchFeatures, localWindowProblem, reductionMatrix } from '../../src/families/patchcore/index.js';
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
      { name: 'layer2', shape: [8, 8, 2] as [number, number, number] },
      { name: 'layer3', shape: [4, 4, 2] as [number, number, number] },
    ];
    const graph = buildPatchFeatures(taps, 'adaptive-average', 2, 0);
    expect(graph.shape).toEqual({ grid: 8, tapChannels: [2, 2], concatenated: 4, dim: 2 });
    const a = tf.tensor4d(Float32Array.from({ length: 128 }, (_, i) => i % 7), [1, 8, 8, 2]);
    const b = tf.tensor4d(Float32Array.from({ length: 32 }, (_, i) => 10 * i), [1, 4, 4, 2]);
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

  it('averages each tap over the local window (padding cells not counted) before upsampling; window 1 keeps the taps as they are', () => {
    const taps = [
      { name: 'layer2', shape: [10, 10, 1] as [number, number, number] },
      { name: 'layer3', shape: [5, 5, 1] as [number, number, number] },
    ];
    const values = Float32Array.from({ length: 100 }, (_, i) => ((i * 7) % 11) - 3);
    const coarse = Float32Array.from({ length: 25 }, (_, i) => i * i);
    /** Mean of the valid cells of the k x k window centred on (y, x) of a side x side single-channel grid. */
    const windowMean = (grid: Float32Array, side: number, k: number, y: number, x: number): number => {
      let sum = 0;
      let n = 0;
      const r = (k - 1) / 2;
      for (let v = y - r; v <= y + r; v++) for (let u = x - r; u <= x + r; u++) if (v >= 0 && v < side && u >= 0 && u < side) (sum += grid[v * side + u]), n++;
      return sum / n;
    };
    for (const k of [1, 3, 5]) {
      // Adaptive averaging to 2 dims over 2 one-channel taps: feature 0 is layer2, feature 1 is layer3 (upsampled).
      const graph = buildPatchFeatures(taps, 'adaptive-average', 2, 0, k);
      expect(graph.model.layers.filter((l) => l.getClassName() === 'AveragePooling2D').map((l) => (l.getConfig() as { poolSize: number[] }).poolSize)).toEqual(k === 1 ? [] : [[k, k], [k, k]]);
      const a = tf.tensor4d(values, [1, 10, 10, 1]);
      const b = tf.tensor4d(coarse, [1, 5, 5, 1]);
      const out = graph.model.predict([a, b]) as tf.Tensor;
      const features = out.arraySync() as number[][][][];
      for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) expect(features[0][y][x][0], `k ${k} at (${y}, ${x})`).toBeCloseTo(windowMean(values, 10, k, y, x), 4);
      // layer3 is averaged on its own 5x5 grid, then upsampled (factor 2, asymmetric): even outputs are its cells.
      expect(features[0][0][0][1]).toBeCloseTo(windowMean(coarse, 5, k, 0, 0), 4);
      expect(features[0][2][4][1]).toBeCloseTo(windowMean(coarse, 5, k, 1, 2), 4);
      expect(features[0][8][6][1]).toBeCloseTo(windowMean(coarse, 5, k, 4, 3), 4);
      tf.dispose([a, b, out]);
      graph.model.dispose();
    }
  });

  it('refuses a local window that is even, not whole, below 1, or larger than a tap grid, naming why', () => {
    expect(localWindowProblem(3)).toBeUndefined();
    expect(localWindowProblem(1)).toBeUndefined();
    expect(localWindowProblem(4)).toMatch(/must be odd \(a window centred on its patch: 1, 3, 5, \.\.\.\), got 4/);
    expect(localWindowProblem(2.5)).toMatch(/must be a whole number, got 2.5/);
    expect(localWindowProblem(0)).toMatch(/must be at least 1 \(1 = no averaging\), got 0/);
    expect(localWindowProblem(-3)).toMatch(/must be at least 1/);
    expect(localWindowProblem('5')).toMatch(/must be a whole number, got 5/);
    const taps = [
      { name: 'layer2', shape: [8, 8, 2] as [number, number, number] },
      { name: 'layer3', shape: [4, 4, 2] as [number, number, number] },
    ];
    expect(() => buildPatchFeatures(taps, 'random-projection', 2, 0, 5)).toThrow('local window 5 is larger than the 4x4 grid of tap layer3: choose at most 3, or a larger input size');
    expect(() => buildPatchFeatures(taps, 'random-projection', 2, 0, 6)).toThrow(/local window must be odd/);
  });
});
