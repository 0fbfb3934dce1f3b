import { describe, expect, it } from 'vitest';
import { calibrationStats, imageScore, normalizationUpperAnchor, normalizeScore, residualStatistics } from '../src/index.js';
import { loadReference, seededRandom } from './helpers.js';

const reference = loadReference();

describe('image scores', () => {
  const map = Float32Array.from([1, 5, 2, 8, 3, 0, 4, 7, 6, 9]);
  it('mean, max and top-k mean (hand-computed)', () => {
    expect(imageScore(map, { kind: 'mean' })).toBeCloseTo(4.5, 6);
    expect(imageScore(map, { kind: 'max' })).toBe(9);
    expect(imageScore(map, { kind: 'top-k-mean', topKFraction: 0.3 })).toBeCloseTo((9 + 8 + 7) / 3, 6);
    // ceil(0.01 * 10) = 1 -> the max
    expect(imageScore(map, { kind: 'top-k-mean', topKFraction: 0.01 })).toBe(9);
    expect(imageScore(map, { kind: 'top-k-mean', topKFraction: 1 })).toBeCloseTo(4.5, 6);
  });

  it('adds kappa times the discriminator residual (f-AnoGAN)', () => {
    expect(imageScore(map, { kind: 'max', kappa: 0.5 }, { discriminatorResidual: 2 })).toBe(10);
    expect(() => imageScore(map, { kind: 'max', kappa: 0.5 })).toThrow(/needs a finite discriminatorResidual/);
  });

  it('rejects NaN maps, empty maps and bad top-k fractions', () => {
    expect(() => imageScore(Float32Array.from([1, NaN]), { kind: 'mean' })).toThrow(/map\[1\] is NaN/);
    expect(() => imageScore(new Float32Array(0), { kind: 'mean' })).toThrow(/empty/);
    expect(() => imageScore(map, { kind: 'top-k-mean' })).toThrow(/topKFraction in \(0, 1\]/);
  });
});

describe('NCAE residual statistics', () => {
  it('match numpy/scipy (population moments, 256-bin entropy)', () => {
    const r = reference.residual;
    const s = residualStatistics(r.values);
    for (const key of ['mean', 'std', 'variance', 'skewness', 'kurtosis', 'min', 'max', 'range', 'cumulativeSum', 'entropy'] as const) {
      expect(Math.abs(s[key] - r[key]), key).toBeLessThan(1e-9);
    }
  });

  it('constant residual: zero spread, skewness, kurtosis and entropy', () => {
    const s = residualStatistics(new Float32Array(50).fill(0.25));
    expect([s.std, s.range, s.skewness, s.kurtosis, s.entropy]).toEqual([0, 0, 0, 0, 0]);
    expect(s.cumulativeSum).toBeCloseTo(12.5, 9);
  });

  it('entropy of two equally frequent values is 1 bit', () => {
    expect(residualStatistics([0, 1, 0, 1]).entropy).toBeCloseTo(1, 12);
  });
});

describe('normalization and calibration', () => {
  const calibration = { min: 0.1, max: 0.5 };
  it('maps calibration.min -> 0, threshold -> 0.5, upper anchor -> 1, clamped', () => {
    expect(normalizeScore(0.1, 0.3, calibration)).toBe(0);
    expect(normalizeScore(0.3, 0.3, calibration)).toBe(0.5);
    expect(normalizationUpperAnchor(0.3, calibration)).toBeCloseTo(0.5, 12);
    expect(normalizeScore(0.5, 0.3, calibration)).toBeCloseTo(1, 12);
    expect(normalizeScore(0.2, 0.3, calibration)).toBeCloseTo(0.25, 12);
    expect(normalizeScore(0.4, 0.3, calibration)).toBeCloseTo(0.75, 12);
    expect(normalizeScore(-5, 0.3, calibration)).toBe(0);
    expect(normalizeScore(99, 0.3, calibration)).toBe(1);
    // calibration.max below threshold: the anchor mirrors min around the threshold.
    expect(normalizationUpperAnchor(0.45, { min: 0.1, max: 0.2 })).toBeCloseTo(0.8, 12);
  });

  it('is monotone and >= 0.5 exactly when score >= threshold (seeded)', () => {
    const rand = seededRandom(9);
    for (let k = 0; k < 200; k++) {
      const min = rand();
      const max = min + rand();
      const threshold = min + rand() * 2 * (max - min);
      const a = rand() * 3;
      const b = a + rand();
      const na = normalizeScore(a, threshold, { min, max });
      expect(na).toBeLessThanOrEqual(normalizeScore(b, threshold, { min, max }));
      expect(na >= 0.5).toBe(a >= threshold);
    }
  });

  it('degenerate calibration and bad input', () => {
    expect(normalizeScore(0.1, 0.1, { min: 0.1, max: 0.1 })).toBe(0.5);
    expect(normalizeScore(0.2, 0.1, { min: 0.1, max: 0.1 })).toBe(1);
    expect(normalizeScore(0.05, 0.1, { min: 0.1, max: 0.1 })).toBe(0);
    expect(() => normalizeScore(NaN, 0.1, calibration)).toThrow(/score is NaN/);
    expect(() => normalizeScore(0.1, NaN, calibration)).toThrow(/threshold must be finite/);
  });

  it('calibrationStats matches numpy quantiles', () => {
    const { values, q } = reference.quantiles;
    const stats = calibrationStats(values, Object.keys(q).map(Number));
    for (const [key, expected] of Object.entries(q)) expect(Math.abs(stats.quantiles[key] - expected)).toBeLessThan(1e-12);
    expect(stats.count).toBe(values.length);
    expect(stats.min).toBe(Math.min(...values));
    expect(stats.max).toBe(Math.max(...values));
  });
});

describe('top-k mean by selection', () => {
  const sortedTopKMean = (map: Float32Array, k: number) => {
    const sorted = Float64Array.from(map).sort();
    let sum = 0;
    for (let i = sorted.length - k; i < sorted.length; i++) sum += sorted[i];
    return sum / k;
  };

  it('equals the mean of the last k of a full sort, bit for bit, on random, tied, sorted and constant maps', () => {
    const rand = seededRandom(5);
    const maps: Float32Array[] = [
      Float32Array.from({ length: 224 * 224 }, () => rand() * 3 - 1),
      Float32Array.from({ length: 5000 }, () => Math.floor(rand() * 7)),
      Float32Array.from({ length: 3000 }, (_, i) => i),
      Float32Array.from({ length: 3000 }, (_, i) => 3000 - i),
      new Float32Array(1000).fill(0.25),
      Float32Array.from([-0, 0, -0, 0, 1e-30, -1e-30]),
      Float32Array.from([2]),
    ];
    for (const map of maps) {
      for (const fraction of [1e-6, 0.01, 0.1, 0.5, 1]) {
        const k = Math.max(1, Math.ceil(fraction * map.length));
        expect(imageScore(map, { kind: 'top-k-mean', topKFraction: fraction })).toBe(sortedTopKMean(map, k));
      }
    }
  });
});
