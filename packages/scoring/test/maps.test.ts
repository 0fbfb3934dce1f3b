import { describe, expect, it } from 'vitest';
import { anomalyMap, fitPositionStandardization, gaussianSmooth, mcDropoutStatistics, reduceChannels, ssimMap, standardizePositions, type AnomalyMapSpec } from '../src/index.js';
import { loadReference, seededRandom } from './helpers.js';

const reference = loadReference();
const spec = (partial: Partial<AnomalyMapSpec>): AnomalyMapSpec => ({ kind: 'squared', channelReduction: 'mean', smoothingSigma: 0, ...partial });

describe('anomaly maps', () => {
  it('squared and absolute residuals with mean/max/sum channel reduction (hand-computed)', () => {
    // 2 channels, 1x2 pixels.
    const input = Float32Array.from([1, 2, 0, 0]);
    const recon = Float32Array.from([0, 0, 3, -1]);
    expect(Array.from(anomalyMap(input, recon, 2, 1, 2, spec({})))).toEqual([(1 + 9) / 2, (4 + 1) / 2]);
    expect(Array.from(anomalyMap(input, recon, 2, 1, 2, spec({ kind: 'absolute', channelReduction: 'max' })))).toEqual([3, 2]);
    expect(Array.from(anomalyMap(input, recon, 2, 1, 2, spec({ kind: 'absolute', channelReduction: 'sum' })))).toEqual([4, 3]);
    expect(Array.from(reduceChannels([1, 5, 3, 2], 2, 1, 2, 'max'))).toEqual([3, 5]);
  });

  it('model-output maps only reduce and smooth the given map', () => {
    const modelMap = Float32Array.from([0.5, 1.5, 2.5, 3.5]);
    expect(Array.from(anomalyMap(new Float32Array(0), modelMap, 1, 2, 2, spec({ kind: 'model-output' })))).toEqual([0.5, 1.5, 2.5, 3.5]);
  });

  it('gaussian smoothing matches scipy.ndimage.gaussian_filter (reflect, truncate 4)', () => {
    const { height, width, map, sigmas } = reference.smoothing;
    for (const [sigma, expected] of Object.entries(sigmas)) {
      const out = gaussianSmooth(Float32Array.from(map), height, width, Number(sigma));
      expected.forEach((v, i) => expect(Math.abs(out[i] - v)).toBeLessThan(1e-6));
    }
    const smoothed = anomalyMap(Float32Array.from(map), new Float32Array(map.length), 1, height, width, spec({ kind: 'absolute', smoothingSigma: 1 }));
    sigmas['1.0'].forEach((v, i) => expect(Math.abs(smoothed[i] - v)).toBeLessThan(1e-6));
  });

  it('SSIM matches a numpy/scipy Gaussian-window reference for two dynamic ranges', () => {
    const { height, width, a, b, ssimRange1, ssimRange2 } = reference.ssim;
    const s1 = ssimMap(a, b, height, width, { dynamicRange: 1 });
    ssimRange1.forEach((v, i) => expect(Math.abs(s1[i] - v)).toBeLessThan(1e-5));
    const map = anomalyMap(Float32Array.from(a), Float32Array.from(b), 1, height, width, spec({ kind: 'ssim', ssimDynamicRange: 2 }));
    ssimRange2.forEach((v, i) => expect(Math.abs(map[i] - (1 - v))).toBeLessThan(1e-5));
  });

  it('1-SSIM is 0 for identical images, and higher where the reconstruction differs', () => {
    const rand = seededRandom(3);
    const a = new Float32Array(20 * 20).map(() => rand());
    const same = anomalyMap(a, a, 1, 20, 20, spec({ kind: 'ssim' }));
    for (const v of same) expect(Math.abs(v)).toBeLessThan(1e-5);
    const b = a.slice();
    for (let y = 12; y < 18; y++) for (let x = 12; x < 18; x++) b[y * 20 + x] = 1 - b[y * 20 + x];
    const diff = anomalyMap(a, b, 1, 20, 20, spec({ kind: 'ssim' }));
    expect(diff[15 * 20 + 15]).toBeGreaterThan(0.5);
    expect(Math.abs(diff[2 * 20 + 2])).toBeLessThan(1e-5);
  });

  it('MC-Dropout variance: population variance per pixel, reduced over channels', () => {
    const passes = [Float32Array.from([0, 1, 2, 2]), Float32Array.from([2, 1, 2, 4]), Float32Array.from([4, 1, 2, 0])];
    const { meanReconstruction, variance } = mcDropoutStatistics(passes, 2, 1, 2);
    expect(Array.from(meanReconstruction)).toEqual([2, 1, 2, 2]);
    // channel 0: var([0,2,4]) = 8/3, var([1,1,1]) = 0; channel 1: 0, var([2,4,0]) = 8/3
    expect(variance[0]).toBeCloseTo((8 / 3 + 0) / 2, 6);
    expect(variance[1]).toBeCloseTo((0 + 8 / 3) / 2, 6);
    expect(() => mcDropoutStatistics([], 1, 1, 1)).toThrow(/at least one/);
  });

  it('errors clearly for wrong sizes and kinds', () => {
    expect(() => anomalyMap(new Float32Array(3), new Float32Array(4), 1, 2, 2, spec({}))).toThrow(/anomalyMap\(input\): has 3 values but 1x2x2/);
    expect(() => anomalyMap(new Float32Array(4), new Float32Array(4), 1, 2, 2, spec({ kind: 'nope' as 'ssim' }))).toThrow(/kind must be/);
    expect(() => anomalyMap(new Float32Array(4), new Float32Array(4), 1, 2, 2, spec({ channelReduction: 'median' as 'mean' }))).toThrow(/channelReduction/);
    expect(() => ssimMap([1], [1], 1, 1, { windowSize: 4 })).toThrow(/odd positive integer/);
  });
});

describe('position standardization', () => {
  it('fits mean and std per position (population) with a floor of 0.1 x the mean std', () => {
    const maps = [Float32Array.from([1, 5, 2]), Float32Array.from([3, 5, 2]), Float32Array.from([5, 5, 8])];
    const stats = fitPositionStandardization(maps, 1, 3, '3 maps');
    expect(stats.mean).toEqual([3, 5, 4]);
    const std = [Math.sqrt(8 / 3), 0, Math.sqrt(8)];
    const floor = (0.1 * (std[0] + std[1] + std[2])) / 3;
    stats.scale.forEach((s, p) => expect(s).toBeCloseTo(std[p] + floor, 12));
    expect(() => fitPositionStandardization(maps, 1, 3, 'x', 0)).toThrow(/do not vary/);
    expect(() => fitPositionStandardization([maps[0]], 1, 3, 'x')).toThrow(/at least 2/);
    expect(() => fitPositionStandardization([maps[0], Float32Array.from([1, 2])], 1, 3, 'x')).toThrow(/3 values, one has 2/);
  });

  it('standardizes after channel reduction and before smoothing, at the map resolution only', () => {
    const stats = { width: 2, height: 1, mean: [1, 0], scale: [2, 0.5], fittedOn: 't' };
    const input = Float32Array.from([3, 1]);
    const recon = Float32Array.from([0, 0]);
    // squared residual 9, 1 -> (9 - 1) / 2, (1 - 0) / 0.5
    expect(Array.from(anomalyMap(input, recon, 1, 1, 2, spec({ positionStandardization: stats })))).toEqual([4, 2]);
    // a map that is not at the statistics' size is refused, not silently broadcast
    expect(() => standardizePositions(new Float32Array(4), 2, 2, stats)).toThrow(/fitted for 2x1 maps, this map is 2x2/);
    // a defect at a noisy position is damped, at a quiet one amplified: the ranking of positions changes
    const fitted = fitPositionStandardization([Float32Array.from([0, 0]), Float32Array.from([4, 0.2])], 1, 2, 'two');
    const z = standardizePositions(Float32Array.from([3, 0.8]), 1, 2, fitted);
    expect(z[1]).toBeGreaterThan(z[0]);
  });
});
