import { describe, expect, it } from 'vitest';
import { componentsForVariance, covarianceMatrix, pcaLatentWidth, symmetricEigenvalues } from '../../src/families/dfr/index.js';
import { createRandom } from '../../src/random.js';

/** A seeded random orthonormal basis (Gram-Schmidt), rows = basis vectors. */
function orthonormalBasis(n: number, seed: number): Float64Array[] {
  const random = createRandom(seed);
  const basis: Float64Array[] = [];
  while (basis.length < n) {
    const v = Float64Array.from({ length: n }, () => random.uniform(-1, 1));
    for (const b of basis) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += v[i] * b[i];
      for (let i = 0; i < n; i++) v[i] -= dot * b[i];
    }
    const norm = Math.hypot(...v);
    if (norm < 1e-6) continue;
    basis.push(v.map((x) => x / norm));
  }
  return basis;
}

/** Gaussian-ish samples (sum of uniforms) with variance `variances[k]` along basis k. */
function samplesOfKnownSpectrum(dim: number, variances: number[], count: number, seed: number): Float32Array {
  const basis = orthonormalBasis(dim, seed);
  const random = createRandom(seed + 1);
  const out = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    variances.forEach((variance, k) => {
      // Uniform(-a, a) has variance a^2/3.
      const coefficient = random.uniform(-1, 1) * Math.sqrt(3 * variance);
      for (let i = 0; i < dim; i++) out[r * dim + i] += coefficient * basis[k][i];
    });
    for (let i = 0; i < dim; i++) out[r * dim + i] += 3;
  }
  return out;
}

describe('DFR PCA', () => {
  it('finds the eigenvalues of a symmetric matrix with a known spectrum', () => {
    const n = 12;
    const spectrum = [9, 7.5, 6, 5, 4, 3.3, 2, 1.5, 1, 0.5, 0.25, 0];
    const basis = orthonormalBasis(n, 7);
    const matrix = new Float64Array(n * n);
    spectrum.forEach((lambda, k) => {
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) matrix[i * n + j] += lambda * basis[k][i] * basis[k][j];
    });
    const eigenvalues = symmetricEigenvalues(matrix, n);
    spectrum.forEach((lambda, i) => expect(eigenvalues[i]).toBeCloseTo(lambda, 9));
  });

  it('handles diagonal and 1x1 matrices', () => {
    expect(Array.from(symmetricEigenvalues(Float64Array.from([2, 0, 0, 0, 5, 0, 0, 0, 1]), 3))).toEqual([5, 2, 1]);
    expect(Array.from(symmetricEigenvalues(Float64Array.from([4]), 1))).toEqual([4]);
  });

  it('counts the components that keep a variance fraction', () => {
    // 8, 7, ..., 1: total 36, 90 % = 32.4 -> 8+7+6+5+4+3 = 33 is the first to reach it.
    expect(componentsForVariance([8, 7, 6, 5, 4, 3, 2, 1], 0.9)).toBe(6);
    expect(componentsForVariance([8, 7, 6, 5, 4, 3, 2, 1], 0.5)).toBe(3);
    expect(componentsForVariance([1, 1, 1, 1], 1)).toBe(4);
    expect(() => componentsForVariance([0, 0], 0.9)).toThrow(/no variance/);
    expect(() => componentsForVariance([1], 1.5)).toThrow(/fraction/);
  });

  it('recovers the latent width of synthetic features of known rank', () => {
    const dim = 40;
    // Rank 8 in 40 dimensions; the 90 % point is 6 components (see above).
    const vectors = samplesOfKnownSpectrum(dim, [8, 7, 6, 5, 4, 3, 2, 1], 4000, 11);
    const { width, eigenvalues } = pcaLatentWidth(vectors, 4000, dim, 0.9);
    expect(width).toBe(6);
    expect(eigenvalues[0]).toBeGreaterThan(7);
    expect(eigenvalues[7]).toBeGreaterThan(0.7);
    expect(eigenvalues[8]).toBeLessThan(1e-3);
    // All the variance needs all 8 directions, never more than the rank.
    expect(pcaLatentWidth(vectors, 4000, dim, 0.999).width).toBe(8);
  });

  it('rejects malformed input', () => {
    expect(() => covarianceMatrix(new Float32Array(5), 2, 3)).toThrow(/expected 6 values/);
    expect(() => covarianceMatrix(new Float32Array(3), 1, 3)).toThrow(/at least 2 vectors/);
    expect(() => symmetricEigenvalues(new Float64Array(3), 2)).toThrow(/expected 4 values/);
  });
});
