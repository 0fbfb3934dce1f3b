/**
 * Image-level binary classification metrics. Convention everywhere: a sample is predicted
 * anomalous when score >= threshold; label 1 (or true) = anomalous, 0 (or false) = normal.
 */
import { assertFiniteValues, assertNonEmpty } from '../util/checks.js';
import { argsortAscending } from './sort.js';
import { isAnomalous } from './verdict.js';

export type BinaryLabels = ArrayLike<number | boolean>;

/** Validated 0/1 labels of the same length as the scores. */
export function toBinaryLabels(labels: BinaryLabels, expectedLength: number, name = 'labels'): Uint8Array {
  if (labels === null || labels === undefined || typeof labels.length !== 'number') throw new TypeError(`${name} must be an array of 0/1 or booleans`);
  if (labels.length !== expectedLength) throw new RangeError(`${name} has ${labels.length} entries but there are ${expectedLength} scores`);
  const out = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (v === 1 || v === true) out[i] = 1;
    else if (v !== 0 && v !== false) throw new RangeError(`${name}[${i}] is ${String(v)}; labels must be 0/1 or booleans`);
  }
  return out;
}

/**
 * Cumulative true/false positives at each distinct threshold, highest first
 * (sklearn's _binary_clf_curve): thresholds[i] is a score; tps[i]/fps[i] count samples with score >= it.
 */
export interface ThresholdCounts {
  thresholds: Float64Array;
  tps: Float64Array;
  fps: Float64Array;
  positives: number;
  negatives: number;
}

export function thresholdCounts(scores: ArrayLike<number>, labels: BinaryLabels): ThresholdCounts {
  assertNonEmpty(scores, 'scores');
  assertFiniteValues(scores, 'scores');
  const y = toBinaryLabels(labels, scores.length);
  const order = argsortAscending(scores);
  const n = order.length;
  const thresholds: number[] = [];
  const tps: number[] = [];
  const fps: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let i = n - 1; i >= 0; i--) {
    const index = order[i];
    if (y[index]) tp++;
    else fp++;
    if (i === 0 || scores[order[i - 1]] !== scores[index]) {
      thresholds.push(scores[index]);
      tps.push(tp);
      fps.push(fp);
    }
  }
  return { thresholds: Float64Array.from(thresholds), tps: Float64Array.from(tps), fps: Float64Array.from(fps), positives: tp, negatives: fp };
}

function requireBothClasses(counts: ThresholdCounts, what: string): void {
  if (counts.positives === 0 || counts.negatives === 0) {
    throw new RangeError(`${what} is undefined with only one class (${counts.positives} anomalous, ${counts.negatives} normal samples)`);
  }
}

export interface RocCurve {
  /** Starts at (0, 0) with threshold +Infinity, ends at (1, 1); one point per distinct score. */
  fpr: Float64Array;
  tpr: Float64Array;
  thresholds: Float64Array;
}

/** ROC curve with every distinct threshold (sklearn roc_curve with drop_intermediate=False). */
export function rocCurve(scores: ArrayLike<number>, labels: BinaryLabels): RocCurve {
  const counts = thresholdCounts(scores, labels);
  requireBothClasses(counts, 'ROC');
  const m = counts.thresholds.length;
  const fpr = new Float64Array(m + 1);
  const tpr = new Float64Array(m + 1);
  const thresholds = new Float64Array(m + 1);
  thresholds[0] = Infinity;
  for (let i = 0; i < m; i++) {
    fpr[i + 1] = counts.fps[i] / counts.negatives;
    tpr[i + 1] = counts.tps[i] / counts.positives;
    thresholds[i + 1] = counts.thresholds[i];
  }
  return { fpr, tpr, thresholds };
}

/** Area under the ROC curve, exact under ties (tied pairs count 1/2), as sklearn roc_auc_score. */
export function auroc(scores: ArrayLike<number>, labels: BinaryLabels): number {
  const counts = thresholdCounts(scores, labels);
  requireBothClasses(counts, 'AUROC');
  let area = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let i = 0; i < counts.thresholds.length; i++) {
    area += (counts.fps[i] - prevFp) * (counts.tps[i] + prevTp);
    prevTp = counts.tps[i];
    prevFp = counts.fps[i];
  }
  return area / 2 / (counts.positives * counts.negatives);
}

export interface PrCurve {
  /** One point per distinct threshold, highest threshold first (recall increasing). */
  precision: Float64Array;
  recall: Float64Array;
  thresholds: Float64Array;
}

/** Precision-recall points at every distinct threshold (without sklearn's appended (1, 0) end point). */
export function prCurve(scores: ArrayLike<number>, labels: BinaryLabels): PrCurve {
  const counts = thresholdCounts(scores, labels);
  if (counts.positives === 0) throw new RangeError('PR curve is undefined without anomalous samples (recall has no denominator)');
  const m = counts.thresholds.length;
  const precision = new Float64Array(m);
  const recall = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    precision[i] = counts.tps[i] / (counts.tps[i] + counts.fps[i]);
    recall[i] = counts.tps[i] / counts.positives;
  }
  return { precision, recall, thresholds: counts.thresholds.slice() };
}

/** Average precision as sklearn average_precision_score: sum over thresholds of (R_i - R_{i-1}) * P_i. */
export function averagePrecision(scores: ArrayLike<number>, labels: BinaryLabels): number {
  const { precision, recall } = prCurve(scores, labels);
  let ap = 0;
  let prevRecall = 0;
  for (let i = 0; i < recall.length; i++) {
    ap += (recall[i] - prevRecall) * precision[i];
    prevRecall = recall[i];
  }
  return ap;
}

export interface ConfusionAtThreshold {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** tp / (tp + fp); 0 when nothing is predicted anomalous (sklearn zero_division=0). */
  precision: number;
  /** tp / (tp + fn); 0 without anomalous samples. */
  recall: number;
  /** 2 tp / (2 tp + fp + fn); 0 when that is 0/0. */
  f1: number;
  accuracy: number;
  /** fp / (fp + tn); 0 without normal samples. */
  falsePositiveRate: number;
}

function ratio(num: number, den: number): number {
  return den === 0 ? 0 : num / den;
}

/** Confusion counts and derived rates when score >= threshold is predicted anomalous. */
export function confusionAtThreshold(scores: ArrayLike<number>, labels: BinaryLabels, threshold: number): ConfusionAtThreshold {
  assertNonEmpty(scores, 'scores');
  assertFiniteValues(scores, 'scores');
  if (Number.isNaN(threshold)) throw new RangeError('threshold is NaN');
  const y = toBinaryLabels(labels, scores.length);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const predicted = isAnomalous(scores[i], threshold);
    if (y[i]) predicted ? tp++ : fn++;
    else predicted ? fp++ : tn++;
  }
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    accuracy: (tp + tn) / scores.length,
    falsePositiveRate: ratio(fp, fp + tn),
  };
}

export interface F1Max {
  f1: number;
  /** The score at which to cut (score >= threshold is anomalous); the highest such on ties. */
  threshold: number;
  precision: number;
  recall: number;
}

/** The best F1 over all distinct thresholds. Throws without anomalous samples. */
export function f1Max(scores: ArrayLike<number>, labels: BinaryLabels): F1Max {
  const counts = thresholdCounts(scores, labels);
  if (counts.positives === 0) throw new RangeError('F1 is undefined without anomalous samples');
  let best: F1Max = { f1: -1, threshold: NaN, precision: 0, recall: 0 };
  for (let i = 0; i < counts.thresholds.length; i++) {
    const tp = counts.tps[i];
    const fp = counts.fps[i];
    const f1 = (2 * tp) / (2 * tp + fp + (counts.positives - tp));
    if (f1 > best.f1) best = { f1, threshold: counts.thresholds[i], precision: tp / (tp + fp), recall: tp / counts.positives };
  }
  return best;
}
