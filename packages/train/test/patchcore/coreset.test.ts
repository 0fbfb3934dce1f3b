/** Greedy k-center coreset (onnxruntime MatMul kernels) against a float64 JavaScript greedy on the same vectors. */
import { describe, expect, it } from 'vitest';
import { gaussianProjection, greedyCoreset } from '../../src/families/patchcore/index.js';
import { createRandom } from '../../src/random.js';

function randomFeatures(count: number, dim: number, seed: number): Float32Array {
  const random = createRandom(seed);
  // Clusters of different spread, so the farthest point is well separated from the runner-up.
  return Float32Array.from({ length: count * dim }, (_, i) => random.uniform(-1, 1) * (1 + (Math.floor(i / dim) % 7)));
}

/** The textbook greedy in float64, from the same first index. */
function referenceGreedy(points: ArrayLike<number>, count: number, dim: number, size: number, first: number): number[] {
  const min = new Float64Array(count).fill(Infinity);
  const picked = [first];
  let next = first;
  while (picked.length < size) {
    let far = 0;
    for (let i = 0; i < count; i++) {
      let d2 = 0;
      for (let d = 0; d < dim; d++) d2 += (points[i * dim + d] - points[next * dim + d]) ** 2;
      if (d2 < min[i]) min[i] = d2;
      if (min[i] > min[far]) far = i;
    }
    next = far;
    picked.push(next);
  }
  return picked;
}

function projectJs(features: Float32Array, count: number, dim: number, k: number, seed: number): Float32Array {
  const r = gaussianProjection(dim, k, seed);
  const out = new Float32Array(count * k);
  for (let i = 0; i < count; i++)
    for (let j = 0; j < k; j++) {
      let sum = 0;
      for (let d = 0; d < dim; d++) sum += features[i * dim + d] * r[d * k + j];
      out[i * k + j] = sum;
    }
  return out;
}

describe('greedy k-center coreset', () => {
  it('picks the same patches as the float64 greedy (no projection), deterministically for a seed', async () => {
    const [count, dim, size, seed] = [400, 8, 40, 3];
    const features = randomFeatures(count, dim, 1);
    const result = await greedyCoreset(features, count, dim, { size, seed, projectionDim: 64 });
    expect(result.distanceDim).toBe(8);
    expect(Array.from(result.indices)).toEqual(referenceGreedy(features, count, dim, size, createRandom(seed + 1).int(count)));
    expect(new Set(result.indices).size).toBe(size);
    expect(Array.from((await greedyCoreset(features, count, dim, { size, seed, projectionDim: 64 })).indices)).toEqual(Array.from(result.indices));
    expect((await greedyCoreset(features, count, dim, { size, seed: seed + 10, projectionDim: 64 })).indices[0]).not.toBe(result.indices[0]);
  });

  it('selects on the seeded random projection, and every patch lies within the reported cover radius of a kept one', async () => {
    const [count, dim, k, size, seed] = [300, 48, 12, 30, 7];
    const features = randomFeatures(count, dim, 2);
    const result = await greedyCoreset(features, count, dim, { size, seed, projectionDim: k });
    expect(result.distanceDim).toBe(k);
    const projected = projectJs(features, count, dim, k, seed);
    expect(Array.from(result.indices)).toEqual(referenceGreedy(projected, count, k, size, result.indices[0]));
    let radius = 0;
    for (let i = 0; i < count; i++) {
      let nearest = Infinity;
      for (const c of result.indices) {
        let d2 = 0;
        for (let d = 0; d < k; d++) d2 += (projected[i * k + d] - projected[c * k + d]) ** 2;
        nearest = Math.min(nearest, d2);
      }
      radius = Math.max(radius, nearest);
    }
    expect(result.coverRadiusSquared).toBeCloseTo(radius, 3);
    expect(result.timings.selectionMs).toBeGreaterThanOrEqual(0);
  });

  it('keeps every distinct patch once when fewer are distinct than asked, and all of them when asked for more than there are', async () => {
    const distinct = randomFeatures(10, 4, 4);
    const repeated = new Float32Array(50 * 4);
    for (let i = 0; i < 50; i++) repeated.set(distinct.subarray((i % 10) * 4, (i % 10) * 4 + 4), i * 4);
    const result = await greedyCoreset(repeated, 50, 4, { size: 20 });
    expect(new Set(Array.from(result.indices, (i) => i % 10)).size).toBe(10);
    expect(result.indices).toHaveLength(10);
    expect(result.note).toMatch(/only 10 distinct patches among 50/);
    expect(result.coverRadiusSquared).toBe(0);
    expect(Array.from((await greedyCoreset(distinct, 10, 4, { size: 12 })).indices)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('refuses features that do not match their shape, NaN, and a bad size', async () => {
    await expect(greedyCoreset(new Float32Array(10), 3, 4, { size: 2 })).rejects.toThrow(/3 x 4 = 12 float32 values, got 10/);
    const nan = new Float32Array(12);
    nan[5] = Number.NaN;
    await expect(greedyCoreset(nan, 3, 4, { size: 2 })).rejects.toThrow(/row 1 holds NaN/);
    await expect(greedyCoreset(new Float32Array(12), 3, 4, { size: 0 })).rejects.toThrow(/size must be a positive integer/);
  });
});

describe('greedyCoreset stopped early', () => {
  it('keeps the picks so far, which are the first picks of the full selection', async () => {
    const random = createRandom(3);
    const count = 400;
    const dim = 6;
    const features = Float32Array.from({ length: count * dim }, () => random.next());
    const full = await greedyCoreset(features, count, dim, { size: 200, seed: 2 });
    let asked = 0;
    const stopped = await greedyCoreset(features, count, dim, { size: 200, seed: 2, shouldStop: () => ++asked >= 2 });
    expect(stopped.stopped).toBe(true);
    expect(stopped.indices.length).toBe(128);
    expect(stopped.note).toBe('selection stopped after 128 of 200 picks');
    expect(Array.from(stopped.indices)).toEqual(Array.from(full.indices.subarray(0, 128)));
    expect(full.stopped).toBeUndefined();
  });
});
