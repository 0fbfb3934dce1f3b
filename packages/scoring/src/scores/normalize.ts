import type { CalibrationStats } from '../card/model-card.js';
import { assertFiniteValues, assertNonEmpty, quantileSorted, sortedCopy } from '../util/checks.js';

/**
 * The upper anchor of the normalization (maps to 1): max(calibration.max, threshold + (threshold - calibration.min)),
 * i.e. at least as far above the threshold as the calibration minimum is below it.
 */
export function normalizationUpperAnchor(threshold: number, calibration: Pick<CalibrationStats, 'min' | 'max'>): number {
  return Math.max(calibration.max, threshold + (threshold - calibration.min));
}

/**
 * A 0..1 score for dashboards: piecewise linear with calibration.min -> 0, threshold -> 0.5 and the
 * upper anchor (see normalizationUpperAnchor) -> 1, clamped to [0, 1]. So normalized >= 0.5 exactly
 * when score >= threshold. If the threshold is at or below calibration.min, scores below it map to 0.
 */
export function normalizeScore(score: number, threshold: number, calibration: Pick<CalibrationStats, 'min' | 'max'>): number {
  if (Number.isNaN(score)) throw new RangeError('normalizeScore: score is NaN');
  if (!Number.isFinite(threshold)) throw new RangeError(`normalizeScore: threshold must be finite, got ${threshold}`);
  if (!Number.isFinite(calibration?.min) || !Number.isFinite(calibration?.max)) {
    throw new RangeError(`normalizeScore: calibration.min and calibration.max must be finite, got ${String(calibration?.min)}, ${String(calibration?.max)}`);
  }
  const lo = calibration.min;
  const hi = normalizationUpperAnchor(threshold, calibration);
  let value: number;
  if (score < threshold) value = threshold > lo ? (0.5 * (score - lo)) / (threshold - lo) : 0;
  else value = hi > threshold ? 0.5 + (0.5 * (score - threshold)) / (hi - threshold) : score > threshold ? 1 : 0.5;
  return Math.min(1, Math.max(0, value));
}

export const DEFAULT_CALIBRATION_QUANTILES = [0.5, 0.9, 0.95, 0.99, 0.995, 0.999] as const;

/** Calibration statistics of normal (good) scores; std is the population std; quantiles as numpy 'linear'. */
export function calibrationStats(normalScores: ArrayLike<number>, quantiles: readonly number[] = DEFAULT_CALIBRATION_QUANTILES): CalibrationStats {
  assertNonEmpty(normalScores, 'calibrationStats: normalScores');
  assertFiniteValues(normalScores, 'calibrationStats: normalScores');
  const sorted = sortedCopy(normalScores);
  const n = sorted.length;
  let sum = 0;
  for (const v of sorted) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of sorted) ss += (v - mean) ** 2;
  const out: Record<string, number> = {};
  for (const q of quantiles) {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`calibrationStats: quantile ${q} is outside [0, 1]`);
    out[String(q)] = quantileSorted(sorted, q);
  }
  return { count: n, min: sorted[0], max: sorted[n - 1], mean, std: Math.sqrt(ss / n), quantiles: out };
}
