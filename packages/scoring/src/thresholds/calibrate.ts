/**
 * Calibration of an image threshold from scored good (and optionally defective) images by a
 * policy the user picks, with what the threshold is expected to do (recall / false-alarm rate and
 * their exact 95 % intervals on the calibration sets) and honest refusals when a set is too small
 * for the target. Used by `residuum calibrate` and the dashboard's "save model with this threshold".
 */
import type { ModelCard, ThresholdSpec } from '../card/model-card.js';
import { clopperPearson, trialsForUpperBound, type ProportionInterval } from '../metrics/intervals.js';
import { isAnomalous } from '../metrics/verdict.js';
import { assertFiniteValues, sortedCopy } from '../util/checks.js';
import { f1OptimalThreshold, targetFprThreshold } from './thresholds.js';

export type CalibrationPolicy =
  | { kind: 'target-fpr'; fpr: number }
  | { kind: 'target-recall'; recall: number }
  | { kind: 'f1' }
  | { kind: 'manual'; threshold: number };

/** Which calibration set a problem is about (the CLI names the flag: --good / --defective). */
export type CalibrationSetName = 'good' | 'defective';

/** A calibration set that cannot support the request; nothing should be written. */
export class CalibrationSetError extends Error {
  override readonly name = 'CalibrationSetError';
  constructor(
    readonly set: CalibrationSetName | 'policy',
    message: string,
  ) {
    super(message);
  }
}

export interface CalibrationExpectation {
  /** Good images at or above the threshold, with the exact interval of the rate. */
  falseAlarmRate: ProportionInterval;
  /** Defective images at or above the threshold (absent without defective images). */
  recall?: ProportionInterval;
}

export interface CalibrationOutcome {
  threshold: ThresholdSpec;
  expected: CalibrationExpectation;
  /** Plain-language cautions (e.g. a bound wider than the target); also recorded in the card. */
  warnings: string[];
}

const percent = (x: number) => `${(100 * x).toPrecision(3).replace(/\.?0+$/, '')} %`;

function countAtOrAbove(scores: ArrayLike<number>, threshold: number): number {
  let n = 0;
  for (let i = 0; i < scores.length; i++) if (isAnomalous(scores[i], threshold)) n++;
  return n;
}

/** Expected recall and false-alarm rate of a threshold on the calibration sets. */
export function expectationAt(good: ArrayLike<number>, defective: ArrayLike<number> | undefined, threshold: number): CalibrationExpectation {
  const expected: CalibrationExpectation = { falseAlarmRate: clopperPearson(countAtOrAbove(good, threshold), good.length) };
  if (defective && defective.length > 0) expected.recall = clopperPearson(countAtOrAbove(defective, threshold), defective.length);
  return expected;
}

/**
 * Fits the image threshold by `policy`. Throws CalibrationSetError (naming the set) when a set is
 * empty, holds non-finite scores, or is too small for the target: a target false-alarm rate f needs
 * at least 1 / f good images (below that no false alarm at all is allowed and the rate cannot be
 * measured), a target recall r at least 1 / (1 - r) defective images.
 */
export function calibrateThreshold(
  good: ArrayLike<number>,
  defective: ArrayLike<number> | undefined,
  policy: CalibrationPolicy,
  sources: { good: string; defective?: string } = { good: 'good calibration images', defective: 'defective calibration images' },
): CalibrationOutcome {
  if (good.length === 0) throw new CalibrationSetError('good', 'no good image could be scored: the good set is empty');
  assertFiniteValues(good, 'good scores');
  if (defective) {
    if (defective.length === 0) throw new CalibrationSetError('defective', 'no defective image could be scored: the defective set is empty (leave the flag out to calibrate on good images only)');
    assertFiniteValues(defective, 'defective scores');
  }
  const warnings: string[] = [];
  let threshold: ThresholdSpec;
  const fittedOn = (withDefective: boolean): ThresholdSpec['fittedOn'] => ({
    count: good.length + (withDefective && defective ? defective.length : 0),
    normal: good.length,
    anomalous: withDefective && defective ? defective.length : 0,
    source: withDefective && defective ? `${sources.good}; ${sources.defective ?? 'defective images'}` : sources.good,
  });

  switch (policy.kind) {
    case 'target-fpr': {
      const f = policy.fpr;
      if (!(f > 0 && f < 1)) throw new CalibrationSetError('policy', `the target false-alarm rate must be in (0, 1), got ${f}`);
      const needed = Math.ceil(1 / f - 1e-9);
      if (good.length < needed) {
        throw new CalibrationSetError(
          'good',
          `${good.length} good images cannot support a ${percent(f)} false-alarm target: one false alarm among them is already ${percent(1 / good.length)}, ` +
            `so the rate cannot be measured. It needs at least ${needed} good images (about ${trialsForUpperBound(f)} to show <= ${percent(f)} with 95 % confidence)`,
        );
      }
      threshold = { ...targetFprThreshold(good, f, 'image', sources.good), fittedOn: fittedOn(false) };
      break;
    }
    case 'target-recall': {
      const r = policy.recall;
      if (!(r > 0 && r < 1)) throw new CalibrationSetError('policy', `the target recall must be in (0, 1), got ${r}`);
      if (!defective) throw new CalibrationSetError('defective', 'a target recall needs defective images');
      const needed = Math.ceil(1 / (1 - r) - 1e-9);
      if (defective.length < needed) {
        throw new CalibrationSetError(
          'defective',
          `${defective.length} defective images cannot support a ${percent(r)} recall target: one missed part among them is already ${percent(1 / defective.length)}. ` +
            `It needs at least ${needed} defective images`,
        );
      }
      // The highest threshold that keeps the recall: the k-th highest defective score.
      const sorted = sortedCopy(defective);
      const k = Math.ceil(r * defective.length - 1e-9);
      const value = sorted[defective.length - k];
      threshold = {
        value,
        method: 'target-recall',
        params: { recall: r, achievedRecall: countAtOrAbove(defective, value) / defective.length },
        fittedOn: fittedOn(true),
      };
      break;
    }
    case 'f1': {
      if (!defective) throw new CalibrationSetError('defective', 'the F1 policy needs defective images');
      const scores = [...Array.from(good), ...Array.from(defective)];
      const labels = [...Array.from(good, () => 0), ...Array.from(defective, () => 1)];
      threshold = { ...f1OptimalThreshold(scores, labels, fittedOn(true).source), fittedOn: fittedOn(true) };
      break;
    }
    case 'manual': {
      if (!Number.isFinite(policy.threshold)) throw new CalibrationSetError('policy', `the threshold must be a finite number, got ${policy.threshold}`);
      threshold = { value: policy.threshold, method: 'manual', params: {}, fittedOn: fittedOn(Boolean(defective)) };
      break;
    }
  }

  const expected = expectationAt(good, defective, threshold.value);
  const far = expected.falseAlarmRate;
  if (policy.kind === 'target-fpr' && far.upper > policy.fpr) {
    warnings.push(
      `${far.successes} of ${far.trials} good images are rejected (${percent(far.estimate)}), but the 95 % upper bound on the false-alarm rate is ${percent(far.upper)}, ` +
        `above the ${percent(policy.fpr)} target; showing the target takes about ${trialsForUpperBound(policy.fpr)} good images`,
    );
  }
  if (expected.recall && expected.recall.trials < 30) {
    warnings.push(`only ${expected.recall.trials} defective images: the recall's 95 % lower bound is ${percent(expected.recall.lower)} (${expected.recall.successes} of ${expected.recall.trials} caught)`);
  }
  if (threshold.note) warnings.push(threshold.note);
  return { threshold, expected, warnings };
}

/** What `calibrate` records in the card (under extras.calibration): policy, sets, expectations. */
export interface CalibrationRecord {
  policy: CalibrationPolicy;
  sets: Array<{ role: CalibrationSetName; count: number; fingerprint?: string; description: string }>;
  /** Absent when the threshold was saved without labelled good images (dashboard). */
  expected?: CalibrationExpectation;
  warnings: string[];
  previousThreshold: ThresholdSpec;
  /** Pixel threshold before and after, when the card has one. */
  pixelThreshold?: { previous: number; value: number; fpr: number; fittedOn: string };
  createdAt: string;
  tool: string;
}

/**
 * A new card with the calibrated threshold (and pixel threshold), the record under
 * extras.calibration; the original card is not changed. The card validator checks the result
 * when it is embedded.
 */
export function withCalibratedThreshold(card: ModelCard, record: CalibrationRecord, threshold: ThresholdSpec): ModelCard {
  const next: ModelCard = structuredClone(card);
  next.threshold = structuredClone(threshold);
  if (record.pixelThreshold) next.calibration.pixelThreshold = record.pixelThreshold.value;
  next.extras = { ...(next.extras ?? {}), calibration: structuredClone(record) as unknown };
  return next;
}
