import { describe, expect, it } from 'vitest';
import { anomalyMap, reduceChannels, ssimMap, type AnomalyMapSpec } from '../src/index.js';
import { gaussianKernel, reflectIndices } from '../src/maps/gaussian.js';
import { seededRandom } from './helpers.js';

/**
 * The plain definition, loop for loop as it was before the unrolled kernel: five Gaussian-weighted
 * moments by one separable filter (taps summed left to right from 0, in Float64), then SSIM.
 */
function plainSsim(a: Float32Array, b: Float32Array, height: number, width: number, windowSize: number, sigma: number, range: number): Float32Array {
  const kernel = gaussianKernel(sigma, (windowSize - 1) / 2);
  const radius = (windowSize - 1) / 2;
  const xIndex = reflectIndices(width, radius);
  const yIndex = reflectIndices(height, radius);
  const n = height * width;
  const h = Array.from({ length: 5 }, () => new Float64Array(n));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = [0, 0, 0, 0, 0];
      for (let k = 0; k < kernel.length; k++) {
        const i = y * width + xIndex[x + k];
        const wa = kernel[k] * a[i];
        const wb = kernel[k] * b[i];
        s[0] += wa;
        s[1] += wb;
        s[2] += wa * a[i];
        s[3] += wb * b[i];
        s[4] += wa * b[i];
      }
      for (let m = 0; m < 5; m++) h[m][y * width + x] = s[m];
    }
  }
  const c1 = (0.01 * range) ** 2;
  const c2 = (0.03 * range) ** 2;
  const out = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const e = [0, 0, 0, 0, 0];
      for (let k = 0; k < kernel.length; k++) for (let m = 0; m < 5; m++) e[m] += kernel[k] * h[m][yIndex[y + k] * width + x];
      const [ma, mb, eAA, eBB, eAB] = e;
      out[y * width + x] = ((2 * ma * mb + c1) * (2 * (eAB - ma * mb) + c2)) / ((ma * ma + mb * mb + c1) * (eAA - ma * ma + (eBB - mb * mb) + c2));
    }
  }
  return out;
}

describe('SSIM kernel', () => {
  it('is bit-identical to the plain separable definition (unrolled 11-tap path, borders, other windows, tiny images)', () => {
    const random = seededRandom(11);
    const cases: Array<[number, number, number, number]> = [
      [128, 128, 11, 1.5],
      [37, 53, 11, 1.5],
      [11, 11, 11, 1.5],
      [12, 10, 11, 1.5], // narrower than the window: no unrolled interior
      [3, 1, 11, 1.5],
      [24, 30, 7, 1.0],
      [16, 16, 3, 0.8],
    ];
    for (const [height, width, windowSize, sigma] of cases) {
      const a = Float32Array.from({ length: height * width }, random);
      const b = Float32Array.from(a, (v) => 0.8 * v + 0.2 * random());
      for (const range of [1, 2]) {
        const expected = plainSsim(a, b, height, width, windowSize, sigma, range);
        expect(ssimMap(a, b, height, width, { windowSize, sigma, dynamicRange: range })).toEqual(expected);
      }
    }
  });

  it('gives the same map whichever size ran before (scratch reuse), and 1 - SSIM per channel in anomalyMap', () => {
    const random = seededRandom(5);
    const a = Float32Array.from({ length: 2 * 20 * 24 }, random);
    const b = Float32Array.from(a, (v) => v * v);
    const first = ssimMap(a.subarray(0, 480), b.subarray(0, 480), 20, 24);
    ssimMap(new Float32Array(64), new Float32Array(64), 8, 8);
    expect(ssimMap(a.subarray(0, 480), b.subarray(0, 480), 20, 24)).toEqual(first);
    const spec: AnomalyMapSpec = { kind: 'ssim', channelReduction: 'max', smoothingSigma: 0 };
    const map = anomalyMap(a, b, 2, 20, 24, spec);
    const second = ssimMap(a.subarray(480), b.subarray(480), 20, 24);
    map.forEach((v, i) => expect(v).toBe(Math.fround(Math.max(1 - first[i], 1 - second[i]))));
  });

  it('one-channel maps skip the channel reduction copy with the same values, and never alias a model output', () => {
    const random = seededRandom(8);
    const input = Float32Array.from({ length: 12 * 9 }, random);
    const recon = Float32Array.from(input, (v) => v + 0.1 * (random() - 0.5));
    for (const kind of ['squared', 'absolute', 'ssim'] as const) {
      for (const channelReduction of ['mean', 'sum', 'max'] as const) {
        const spec: AnomalyMapSpec = { kind, channelReduction, smoothingSigma: 0 };
        const residual = anomalyMap(input, recon, 1, 12, 9, { ...spec, channelReduction: 'max' });
        expect(anomalyMap(input, recon, 1, 12, 9, spec)).toEqual(reduceChannels(residual, 1, 12, 9, channelReduction));
      }
    }
    const modelMap = Float32Array.from(recon);
    const map = anomalyMap(new Float32Array(0), modelMap, 1, 12, 9, { kind: 'model-output', channelReduction: 'mean', smoothingSigma: 0 });
    expect(map).toEqual(modelMap);
    expect(map).not.toBe(modelMap);
  });
});
