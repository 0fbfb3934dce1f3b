import { describe, expect, it } from 'vitest';
import { confusionAtThreshold, f1Max, f1OptimalThreshold, manualThreshold, meanStdThreshold, quantileThreshold, targetFprThreshold } from '../src/index.js';
import { gaussian, loadReference, seededRandom } from './helpers.js';

const reference = loadReference();

describe('thresholds', () => {
  it('quantile threshold equals numpy.quantile and records what it was fitted on', () => {
    const { values, q } = reference.quantiles;
    const spec = quantileThreshold(values, 0.95, 'casting val');
    expect(Math.abs(spec.value - q['0.95'])).toBeLessThan(1e-12);
    expect(spec).toMatchObject({ method: 'quantile', params: { q: 0.95 }, fittedOn: { count: values.length, normal: values.length, anomalous: 0, source: 'casting val' } });
    expect(spec.note).toBeUndefined();
    expect(quantileThreshold(values, 0.999).note).toMatch(/only 137 normal scores: the 0.999 quantile needs at least 1000 .*about 3688 good images to show a 0.1 % false-alarm rate/);
    expect(quantileThreshold(values.slice(0, 21), 0.99).note).toMatch(/only 21 normal scores: the 0.99 quantile needs at least 100/);
    expect(targetFprThreshold(values.slice(0, 50), 0.01).note).toMatch(/only 50 normal scores: a 0.01 false-positive rate needs at least 100/);
    expect(quantileThreshold(Array.from({ length: 100 }, (_, i) => i), 0.99).note).toBeUndefined();
  });

  it('mean + k std (population std)', () => {
    const spec = meanStdThreshold([1, 2, 3, 4], 2);
    expect(spec.value).toBeCloseTo(2.5 + 2 * Math.sqrt(1.25), 12);
    expect(spec.params).toMatchObject({ k: 2, mean: 2.5 });
  });

  it('target FPR: achieved FPR on normal scores is at most the target (seeded), image and pixel level', () => {
    const rand = seededRandom(11);
    for (let k = 0; k < 30; k++) {
      const n = 10 + Math.floor(rand() * 500);
      const scores = Array.from({ length: n }, () => Math.round(gaussian(rand) * 10) / 10);
      const fpr = rand() * 0.2;
      const spec = targetFprThreshold(scores, fpr, 'image');
      const flagged = scores.filter((s) => s >= spec.value).length / n;
      expect(flagged).toBeLessThanOrEqual(fpr + 1e-12);
      expect(flagged).toBe(spec.params.achievedFpr);
      // Lowest such threshold: the largest passing score would be flagged one distinct value lower.
      const passing = scores.filter((s) => s < spec.value);
      const largestPassing = Math.max(...passing);
      expect(scores.filter((s) => s >= largestPassing).length / n).toBeGreaterThan(fpr);
    }
    const pixels = Float32Array.from({ length: 10000 }, () => rand());
    const pixelSpec = targetFprThreshold(pixels, 0.01, 'pixel', 'good pixels');
    expect(pixelSpec.params.level).toBe('pixel');
    expect(pixels.filter((s) => s >= pixelSpec.value).length).toBe(100);
  });

  it('f1-optimal equals f1Max and reaches that F1', () => {
    for (const fx of reference.binary) {
      const spec = f1OptimalThreshold(fx.scores, fx.labels);
      expect(spec.params.f1).toBeCloseTo(fx.f1Max.f1, 12);
      expect(confusionAtThreshold(fx.scores, fx.labels, spec.value).f1).toBeCloseTo(fx.f1Max.f1, 12);
      expect(spec.fittedOn.anomalous).toBe(fx.labels.filter((y) => y === 1).length);
      expect(spec.value).toBe(f1Max(fx.scores, fx.labels).threshold);
    }
  });

  it('degenerate cases have defined, documented results', () => {
    // All normal scores equal: the threshold lies just above them, so good parts pass.
    for (const spec of [quantileThreshold([0.2, 0.2, 0.2], 0.99), meanStdThreshold([0.2, 0.2], 3), targetFprThreshold([0.2, 0.2, 0.2], 0.1)]) {
      expect(spec.value).toBeGreaterThan(0.2);
      expect(spec.value).toBeLessThan(0.2000001);
      expect(spec.note).toMatch(/all normal scores are equal/);
    }
    expect(() => f1OptimalThreshold([0.1, 0.2], [0, 0])).toThrow(/no anomalous sample/);
    expect(f1OptimalThreshold([0.1, 0.2], [1, 1])).toMatchObject({ value: 0.1, note: expect.stringMatching(/no normal sample/) });
    expect(f1OptimalThreshold([0.3, 0.3, 0.3], [0, 1, 0]).note).toMatch(/all scores are equal/);
    expect(() => quantileThreshold([0.1, NaN], 0.9)).toThrow(/normalScores\[1\] is NaN/);
    expect(() => targetFprThreshold([], 0.1)).toThrow(/empty/);
    expect(() => quantileThreshold([1, 2], 1)).toThrow(/q must be in \(0, 1\)/);
    expect(() => targetFprThreshold([1, 2], 0.1, 'region' as 'pixel')).toThrow(/level must be/);
    expect(targetFprThreshold([1, 2, 3, 4], 0).value).toBeGreaterThan(4);
  });

  it('manual threshold', () => {
    expect(manualThreshold(0.7)).toEqual({ value: 0.7, method: 'manual', params: {}, fittedOn: { count: 0, normal: 0, anomalous: 0, source: 'manual' } });
    expect(() => manualThreshold(Infinity)).toThrow(/finite/);
  });
});
