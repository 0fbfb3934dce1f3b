import { describe, expect, it } from 'vitest';
import { anomalyMap, gaussianSmooth, mcDropoutStatistics, reduceChannels, ssimMap, type AnomalyMapSpec } from '../src/index.js';
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
