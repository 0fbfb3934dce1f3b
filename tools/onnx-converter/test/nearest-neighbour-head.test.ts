/**
 * The in-graph nearest-neighbour head (PatchCore scoring) run by onnxruntime-node against a
 * brute-force JavaScript search in float64 over the same bank.
 */
import { describe, expect, it } from 'vitest';
import { buildNearestNeighbourModel, type MemoryBank } from '../src/index.js';
import { expectValidOnnx } from './helpers/onnx-checker.js';
import { runOrtNode } from './helpers/runtimes.js';
import { randomArray, seededRandom } from './helpers/tfjs-harness.js';

/** Squared distance of each patch of NCHW features to its nearest bank entry, [N, 1, h, w], in float64. */
function bruteForce(features: Float32Array, [n, dim, h, w]: number[], bank: MemoryBank): { map: Float64Array; scale: Float64Array } {
  const plane = h * w;
  const map = new Float64Array(n * plane);
  const scale = new Float64Array(n * plane);
  for (let b = 0; b < n; b++)
    for (let p = 0; p < plane; p++) {
      let best = Infinity;
      let bestNorm = 0;
      let patchNorm = 0;
      for (let d = 0; d < dim; d++) patchNorm += features[(b * dim + d) * plane + p] ** 2;
      for (let k = 0; k < bank.size; k++) {
        let sum = 0;
        let norm = 0;
        for (let d = 0; d < dim; d++) {
          const m = bank.values[k * dim + d];
          sum += (features[(b * dim + d) * plane + p] - m) ** 2;
          norm += m * m;
        }
        if (sum < best) [best, bestNorm] = [sum, norm];
      }
      map[b * plane + p] = best;
      scale[b * plane + p] = patchNorm + bestNorm;
    }
  return { map, scale };
}

function bankOf(size: number, dim: number, seed: number): MemoryBank {
  return { values: randomArray(size * dim, seededRandom(seed), -1, 1), size, dim };
}

async function compare(bank: MemoryBank, dims: number[], chunkSize: number, plant: (features: Float32Array) => void = () => undefined) {
  const [n, dim, h, w] = dims;
  const features = randomArray(n * dim * h * w, seededRandom(99), -1, 1);
  plant(features);
  const onnx = buildNearestNeighbourModel(bank, { height: h, width: w }, { chunkSize });
  const { distance_map: got } = await runOrtNode(onnx, { features: { data: features, dims } });
  expect(got.dims).toEqual([n, 1, h, w]);
  const { map, scale } = bruteForce(features, dims, bank);
  let worst = 0;
  for (let i = 0; i < map.length; i++) {
    expect(got.data[i]).toBeGreaterThanOrEqual(0);
    // The ||f||^2 - 2 f.m + ||m||^2 expansion in float32: error relative to the norms, not to the distance.
    worst = Math.max(worst, Math.abs(got.data[i] - map[i]) / Math.max(1, scale[i]));
  }
  expect(worst).toBeLessThan(2e-6);
  return { onnx, got, map };
}

describe('nearest-neighbour head (memory bank in the graph)', () => {
  it('matches a brute-force search with the bank in several chunks (the last one partial) and in one', async () => {
    const bank = bankOf(300, 16, 1);
    const chunked = await compare(bank, [2, 16, 5, 7], 128);
    const single = await compare(bank, [2, 16, 5, 7], 4096);
    for (let i = 0; i < single.got.data.length; i++) expect(chunked.got.data[i]).toBeCloseTo(single.got.data[i], 5);
    expectValidOnnx(chunked.onnx);
  });

  it('gives 0 for a patch that is a bank entry, whichever chunk holds it (never a negative rounding)', async () => {
    const bank = bankOf(50, 8, 2);
    const { got } = await compare(bank, [1, 8, 3, 3], 16, (features) => {
      // patch (0, 0) = entry 0 (first chunk), patch (2, 2) = entry 49 (last, partial chunk)
      for (let d = 0; d < 8; d++) {
        features[d * 9 + 0] = bank.values[d];
        features[d * 9 + 8] = bank.values[49 * 8 + d];
      }
    });
    expect(got.data[0]).toBeLessThan(1e-5);
    expect(got.data[8]).toBeLessThan(1e-5);
  });

  it('refuses a bank whose values do not match its size, or that holds NaN, and a bad chunk size', () => {
    expect(() => buildNearestNeighbourModel({ values: new Float32Array(10), size: 3, dim: 4 }, { height: 2, width: 2 })).toThrow(/10 values for 3 entries of 4/);
    const nan = bankOf(4, 2, 3);
    nan.values[5] = Number.NaN;
    expect(() => buildNearestNeighbourModel(nan, { height: 2, width: 2 })).toThrow(/entry 2 holds NaN/);
    expect(() => buildNearestNeighbourModel(bankOf(4, 2, 3), { height: 2, width: 2 }, { chunkSize: 0 })).toThrow(/chunkSize/);
  });
});
