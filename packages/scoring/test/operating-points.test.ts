import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  calibrateThreshold,
  CalibrationSetError,
  clopperPearson,
  describeVerdictCounts,
  falseAlarmRateAtRecall,
  isAnomalous,
  operatingPoints,
  recallAtFalseAlarmRate,
  trialsForUpperBound,
  verdictCounts,
  type OperatingPoint,
} from '../src/index.js';

interface ReferencePoint extends Omit<OperatingPoint, 'threshold'> {
  threshold: number | null;
}
interface ReferenceCase {
  name: string;
  scores: number[];
  labels: number[];
  positives: number;
  negatives: number;
  atFalseAlarmRate: ReferencePoint[];
  atRecall: ReferencePoint[];
  verdicts: Array<{ threshold: number; caught: number; defective: number; rejected: number; good: number }>;
}
const reference = JSON.parse(readFileSync(new URL('./fixtures/operating-points.json', import.meta.url), 'utf8')) as {
  cases: ReferenceCase[];
  clopperPearson95: Array<{ successes: number; trials: number; lower: number; upper: number }>;
};

function expectPoint(actual: OperatingPoint, expected: ReferencePoint, scores: number[]): void {
  const { threshold, ...rest } = expected;
  expect({ ...actual, threshold: undefined }).toEqual({ ...rest, threshold: undefined });
  if (threshold === null) {
    // sklearn's "flag nothing" point: ours is a finite threshold above every score.
    expect(actual.threshold).toBeGreaterThan(Math.max(...scores));
  } else expect(actual.threshold).toBe(threshold);
}

describe('operating points against sklearn roc_curve (ties included)', () => {
  for (const fx of reference.cases) {
    it(fx.name, () => {
      const points = operatingPoints(fx.scores, fx.labels);
      expect(points.positives).toBe(fx.positives);
      expect(points.negatives).toBe(fx.negatives);
      points.atFalseAlarmRate.forEach((p, i) => expectPoint(p, fx.atFalseAlarmRate[i], fx.scores));
      points.atRecall.forEach((p, i) => expectPoint(p, fx.atRecall[i], fx.scores));
      expectPoint(recallAtFalseAlarmRate(fx.scores, fx.labels, 0.01), fx.atFalseAlarmRate[1], fx.scores);
      expectPoint(falseAlarmRateAtRecall(fx.scores, fx.labels, 0.95), fx.atRecall[1], fx.scores);
      // Each point's counts are what the verdict rule gives at its threshold.
      for (const p of [...points.atFalseAlarmRate, ...points.atRecall]) {
        const caught = fx.scores.filter((s, k) => fx.labels[k] === 1 && isAnomalous(s, p.threshold)).length;
        const rejected = fx.scores.filter((s, k) => fx.labels[k] === 0 && isAnomalous(s, p.threshold)).length;
        expect([caught, rejected]).toEqual([p.tp, p.fp]);
      }
      for (const v of fx.verdicts) {
        const counts = verdictCounts(fx.scores, fx.labels, v.threshold);
        expect({ caught: counts.caught, defective: counts.defective, rejected: counts.rejected, good: counts.good }).toEqual({
          caught: v.caught,
          defective: v.defective,
          rejected: v.rejected,
          good: v.good,
        });
        expect(counts.recall?.successes).toBe(v.caught);
        expect(counts.falseAlarmRate?.successes).toBe(v.rejected);
      }
    });
  }

  it('needs both classes and rates in [0, 1]', () => {
    expect(() => operatingPoints([1, 2], [0, 0])).toThrow(/good and defective/);
    expect(() => recallAtFalseAlarmRate([1, 2], [0, 1], 1.5)).toThrow(/\[0, 1\]/);
  });
});

describe('Clopper-Pearson intervals against scipy.stats.beta', () => {
  for (const ref of reference.clopperPearson95) {
    it(`${ref.successes} of ${ref.trials}`, () => {
      const interval = clopperPearson(ref.successes, ref.trials);
      expect(interval.lower).toBeCloseTo(ref.lower, 10);
      expect(interval.upper).toBeCloseTo(ref.upper, 10);
      expect(interval.method).toBe('clopper-pearson');
    });
  }

  it('5 of 5 caught has a lower bound of about 0.48, not 1', () => {
    expect(clopperPearson(5, 5).lower).toBeCloseTo(0.4782, 4);
  });

  it('counts the good images needed to show a rate with none rejected', () => {
    const n = trialsForUpperBound(0.001);
    expect(clopperPearson(0, n).upper).toBeLessThanOrEqual(0.001);
    expect(clopperPearson(0, n - 1).upper).toBeGreaterThan(0.001);
  });

  it('refuses impossible counts', () => {
    expect(() => clopperPearson(6, 5)).toThrow(RangeError);
    expect(() => clopperPearson(1.5, 5)).toThrow(RangeError);
  });
});

describe('verdict sentence', () => {
  it('says caught and rejected in words', () => {
    const counts = verdictCounts([0.1, 0.2, 0.9, 0.3, 0.8], [0, 0, 1, 1, 1], 0.25);
    expect(describeVerdictCounts(counts)).toBe("at the model's threshold: 3 of 3 defective parts caught (100.0 %), 0 of 2 good parts rejected (0.0 %)");
  });
});

describe('calibrateThreshold', () => {
  const good = Array.from({ length: 200 }, (_, i) => i / 10); // 0 .. 19.9
  const defective = Array.from({ length: 40 }, (_, i) => 15 + i); // 15 .. 54

  it('target false-alarm rate: at most that share of good images flagged', () => {
    const out = calibrateThreshold(good, defective, { kind: 'target-fpr', fpr: 0.05 });
    expect(out.threshold.method).toBe('target-fpr');
    expect(out.expected.falseAlarmRate.successes).toBe(10);
    expect(out.expected.recall?.successes).toBe(40 - 4); // 15, 16, 17, 18 are below 19.0x
    expect(out.expected.falseAlarmRate.upper).toBeGreaterThan(0.05);
    expect(out.warnings.join(' ')).toMatch(/upper bound/);
  });

  it('target false-alarm rate too low for the set: error naming the good set and what it needs', () => {
    try {
      calibrateThreshold(good.slice(0, 100), undefined, { kind: 'target-fpr', fpr: 0.001 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(CalibrationSetError);
      expect((error as CalibrationSetError).set).toBe('good');
      expect((error as Error).message).toMatch(/100 good images cannot support a 0.1 % false-alarm target.*at least 1000 good images.*about 3688/);
    }
  });

  it('target recall: the highest threshold that keeps it, with its false-alarm cost and lower bound', () => {
    const out = calibrateThreshold(good, defective, { kind: 'target-recall', recall: 0.9 });
    expect(out.threshold.value).toBe(19); // 36 of 40 defective >= 19
    expect(out.expected.recall?.successes).toBe(36);
    expect(out.expected.recall!.lower).toBeLessThan(0.9);
    expect(out.expected.falseAlarmRate.successes).toBe(10); // 19.0 .. 19.9
    // Any higher threshold loses recall.
    expect(defective.filter((s) => s >= 19.0001).length).toBeLessThan(36);
  });

  it('target recall on a small defective set: error naming the defective set', () => {
    expect(() => calibrateThreshold(good, defective.slice(0, 5), { kind: 'target-recall', recall: 0.99 })).toThrow(/5 defective images cannot support a 99 % recall target.*at least 100/);
    expect(() => calibrateThreshold(good, undefined, { kind: 'target-recall', recall: 0.9 })).toThrow(CalibrationSetError);
  });

  it('F1 policy needs defective images; empty sets are refused', () => {
    expect(calibrateThreshold(good, defective, { kind: 'f1' }).threshold.method).toBe('f1-optimal');
    expect(() => calibrateThreshold(good, undefined, { kind: 'f1' })).toThrow(/needs defective/);
    expect(() => calibrateThreshold([], defective, { kind: 'f1' })).toThrow(/good set is empty/);
    expect(() => calibrateThreshold(good, [], { kind: 'f1' })).toThrow(/defective set is empty/);
  });
});
