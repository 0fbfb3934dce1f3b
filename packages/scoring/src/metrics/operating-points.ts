/**
 * Operating points: what a line runs on. "Recall at a false-alarm rate" and "false-alarm rate at a
 * recall" read off the ROC curve (every distinct score is a candidate threshold, as sklearn's
 * roc_curve with drop_intermediate=False), each with the threshold that gives it and the counts
 * behind it; and the verdict counts at one threshold with exact 95 % intervals.
 */
import { nextUp } from '../util/checks.js';
import { thresholdCounts, type BinaryLabels, type ThresholdCounts } from './binary.js';
import { clopperPearson, type ProportionInterval } from './intervals.js';
import { isAnomalous } from './verdict.js';

/** False-alarm rates at which recall is reported (0.1 %, 1 %, 5 %). */
export const STANDARD_FALSE_ALARM_RATES: readonly number[] = [0.001, 0.01, 0.05];
/** Recalls at which the false-alarm rate is reported (90 %, 95 %, 99 %). */
export const STANDARD_RECALLS: readonly number[] = [0.9, 0.95, 0.99];

export interface OperatingPoint {
  /** What was asked: the highest recall with false-alarm rate <= value, or the lowest false-alarm rate with recall >= value. */
  target: { kind: 'false-alarm-rate' | 'recall'; value: number };
  /**
   * score >= threshold is anomalous. A score of the set, or (when only flagging nothing meets a
   * false-alarm target) the next number above the highest score.
   */
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  recall: number;
  falseAlarmRate: number;
}

export interface OperatingPoints {
  positives: number;
  negatives: number;
  atFalseAlarmRate: OperatingPoint[];
  atRecall: OperatingPoint[];
}

// Rates are compared as counts: fp <= f * negatives, with a tolerance for f * n in binary (0.05 * 100).
const COUNT_TOLERANCE = 1e-9;

function point(counts: ThresholdCounts, index: number, target: OperatingPoint['target']): OperatingPoint {
  const tp = index < 0 ? 0 : counts.tps[index];
  const fp = index < 0 ? 0 : counts.fps[index];
  const threshold = index < 0 ? nextUp(counts.thresholds[0]) : counts.thresholds[index];
  return {
    target,
    threshold,
    tp,
    fp,
    tn: counts.negatives - fp,
    fn: counts.positives - tp,
    recall: tp / counts.positives,
    falseAlarmRate: fp / counts.negatives,
  };
}

function requireBoth(counts: ThresholdCounts): void {
  if (counts.positives === 0 || counts.negatives === 0) {
    throw new RangeError(`operating points need good and defective samples (got ${counts.negatives} good, ${counts.positives} defective)`);
  }
}

function checkRate(value: number, name: string): void {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${value}`);
}

/** Index of the last ROC point with fp <= rate * negatives (-1: only "flag nothing" meets it). */
function indexAtFalseAlarmRate(counts: ThresholdCounts, rate: number): number {
  const allowed = rate * counts.negatives + COUNT_TOLERANCE;
  let index = -1;
  for (let i = 0; i < counts.thresholds.length && counts.fps[i] <= allowed; i++) index = i;
  return index;
}

/** Index of the first ROC point (highest threshold) with tp >= recall * positives. */
function indexAtRecall(counts: ThresholdCounts, recall: number): number {
  const needed = recall * counts.positives - COUNT_TOLERANCE;
  for (let i = 0; i < counts.thresholds.length; i++) if (counts.tps[i] >= needed) return i;
  return counts.thresholds.length - 1;
}

/** The highest recall whose false-alarm rate is at most `rate` (the lowest threshold that gives it). */
export function recallAtFalseAlarmRate(scores: ArrayLike<number>, labels: BinaryLabels, rate: number): OperatingPoint {
  checkRate(rate, 'false-alarm rate');
  const counts = thresholdCounts(scores, labels);
  requireBoth(counts);
  return point(counts, indexAtFalseAlarmRate(counts, rate), { kind: 'false-alarm-rate', value: rate });
}

/** The lowest false-alarm rate whose recall is at least `recall` (the highest threshold that keeps it). */
export function falseAlarmRateAtRecall(scores: ArrayLike<number>, labels: BinaryLabels, recall: number): OperatingPoint {
  checkRate(recall, 'recall');
  const counts = thresholdCounts(scores, labels);
  requireBoth(counts);
  return point(counts, indexAtRecall(counts, recall), { kind: 'recall', value: recall });
}

/** Recall at each false-alarm rate and false-alarm rate at each recall (defaults: 0.1/1/5 % and 90/95/99 %). */
export function operatingPoints(
  scores: ArrayLike<number>,
  labels: BinaryLabels,
  falseAlarmRates: readonly number[] = STANDARD_FALSE_ALARM_RATES,
  recalls: readonly number[] = STANDARD_RECALLS,
): OperatingPoints {
  falseAlarmRates.forEach((r) => checkRate(r, 'false-alarm rate'));
  recalls.forEach((r) => checkRate(r, 'recall'));
  const counts = thresholdCounts(scores, labels);
  requireBoth(counts);
  return {
    positives: counts.positives,
    negatives: counts.negatives,
    atFalseAlarmRate: falseAlarmRates.map((rate) => point(counts, indexAtFalseAlarmRate(counts, rate), { kind: 'false-alarm-rate', value: rate })),
    atRecall: recalls.map((recall) => point(counts, indexAtRecall(counts, recall), { kind: 'recall', value: recall })),
  };
}

export interface VerdictCounts {
  threshold: number;
  /** Defective parts flagged / all defective parts, with its interval (absent without defective parts). */
  caught: number;
  defective: number;
  /** Good parts flagged / all good parts (absent without good parts). */
  rejected: number;
  good: number;
  recall?: ProportionInterval;
  falseAlarmRate?: ProportionInterval;
}

/** Verdict counts at one threshold, with exact (Clopper-Pearson) intervals for recall and false-alarm rate. */
export function verdictCounts(scores: ArrayLike<number>, labels: BinaryLabels, threshold: number, confidence = 0.95): VerdictCounts {
  if (Number.isNaN(threshold)) throw new RangeError('threshold is NaN');
  const counts = thresholdCounts(scores, labels);
  let caught = 0;
  let rejected = 0;
  for (let i = 0; i < counts.thresholds.length && isAnomalous(counts.thresholds[i], threshold); i++) {
    caught = counts.tps[i];
    rejected = counts.fps[i];
  }
  const result: VerdictCounts = { threshold, caught, defective: counts.positives, rejected, good: counts.negatives };
  if (counts.positives > 0) result.recall = clopperPearson(caught, counts.positives, confidence);
  if (counts.negatives > 0) result.falseAlarmRate = clopperPearson(rejected, counts.negatives, confidence);
  return result;
}

/** "at the model's threshold: X of Y defective parts caught (Z %), U of V good parts rejected" */
export function describeVerdictCounts(counts: VerdictCounts, where = "at the model's threshold"): string {
  const percent = (x: number, n: number) => (n === 0 ? '-' : `${((100 * x) / n).toFixed(1)} %`);
  return (
    `${where}: ${counts.caught} of ${counts.defective} defective parts caught (${percent(counts.caught, counts.defective)}), ` +
    `${counts.rejected} of ${counts.good} good parts rejected (${percent(counts.rejected, counts.good)})`
  );
}
