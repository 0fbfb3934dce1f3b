/**
 * Threshold fitting. Every function returns a ThresholdSpec (value, method, params, fittedOn, note)
 * for the model card. Convention: score >= threshold is anomalous.
 *
 * Degenerate inputs have defined results:
 * - empty input, NaN or infinite scores: RangeError naming the offending index;
 * - all normal scores equal (v): the threshold is the next double above v, so every fitted normal
 *   score passes, with a note (a threshold equal to v would flag every good part);
 * - f1-optimal without anomalous samples: RangeError (F1 is undefined; use quantile or target-fpr);
 * - f1-optimal without normal samples: the lowest score (flags all), with a note.
 */
import type { ThresholdSpec } from '../card/model-card.js';
import { f1Max, toBinaryLabels, type BinaryLabels } from '../metrics/binary.js';
import { trialsForUpperBound } from '../metrics/intervals.js';
import { assertFiniteValues, assertNonEmpty, nextUp, quantileSorted, sortedCopy } from '../util/checks.js';

function normalOnly(count: number, source: string): ThresholdSpec['fittedOn'] {
  return { count, normal: count, anomalous: 0, source };
}

function allEqualNote(value: number): string {
  return `all normal scores are equal (${value}); threshold set just above them so that they pass`;
}

/**
 * The q-quantile of normal scores (numpy 'linear' interpolation): "a fraction q of good parts pass".
 * Notes when there are fewer than 1 / (1 - q) scores, i.e. the quantile is interpolated from the maximum region.
 */
export function quantileThreshold(normalScores: ArrayLike<number>, q: number, source = 'normal scores'): ThresholdSpec {
  assertNonEmpty(normalScores, 'quantileThreshold: normalScores');
  assertFiniteValues(normalScores, 'quantileThreshold: normalScores');
  if (!(q > 0 && q < 1)) throw new RangeError(`quantileThreshold: q must be in (0, 1), got ${q}`);
  const sorted = sortedCopy(normalScores);
  const n = sorted.length;
  const spec: ThresholdSpec = { value: quantileSorted(sorted, q), method: 'quantile', params: { q }, fittedOn: normalOnly(n, source) };
  if (sorted[0] === sorted[n - 1]) {
    spec.value = nextUp(sorted[0]);
    spec.note = allEqualNote(sorted[0]);
  } else if (n < Math.ceil(1 / (1 - q) - 1e-9)) {
    const needed = Math.ceil(1 / (1 - q) - 1e-9);
    spec.note =
      `only ${n} normal scores: the ${q} quantile needs at least ${needed} to be more than an interpolation near the maximum ` +
      `(about ${trialsForUpperBound(1 - q)} good images to show a ${+(100 * (1 - q)).toPrecision(3)} % false-alarm rate with 95 % confidence)`;
  }
  return spec;
}

/** mean + k * std of normal scores (population std). */
export function meanStdThreshold(normalScores: ArrayLike<number>, k: number, source = 'normal scores'): ThresholdSpec {
  assertNonEmpty(normalScores, 'meanStdThreshold: normalScores');
  assertFiniteValues(normalScores, 'meanStdThreshold: normalScores');
  if (!Number.isFinite(k)) throw new RangeError(`meanStdThreshold: k must be a finite number, got ${k}`);
  const n = normalScores.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += normalScores[i];
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (normalScores[i] - mean) ** 2;
  const std = Math.sqrt(ss / n);
  const spec: ThresholdSpec = { value: mean + k * std, method: 'mean-std', params: { k, mean, std }, fittedOn: normalOnly(n, source) };
  if (std === 0) {
    spec.value = nextUp(mean);
    spec.note = allEqualNote(mean);
  }
  return spec;
}

/**
 * The lowest threshold whose false-positive rate on the normal scores (image scores, or all pixel
 * scores of good images for level 'pixel') is at most `fpr`: with m = floor(fpr * n) allowed false
 * positives, the cut lies between the (m+1)-th and m-th largest distinct scores (midpoint), or just above
 * the maximum when m = 0. params.achievedFpr is the FPR on the fitted scores (ties may make it lower than asked).
 */
export function targetFprThreshold(normalScores: ArrayLike<number>, fpr: number, level: 'image' | 'pixel' = 'image', source = 'normal scores'): ThresholdSpec {
  assertNonEmpty(normalScores, 'targetFprThreshold: normalScores');
  assertFiniteValues(normalScores, 'targetFprThreshold: normalScores');
  if (!(fpr >= 0 && fpr < 1)) throw new RangeError(`targetFprThreshold: fpr must be in [0, 1), got ${fpr}`);
  if (level !== 'image' && level !== 'pixel') throw new RangeError(`targetFprThreshold: level must be 'image' or 'pixel', got ${String(level)}`);
  const sorted = normalScores instanceof Float32Array ? Float32Array.from(normalScores).sort() : sortedCopy(normalScores);
  const n = sorted.length;
  const allowed = Math.floor(fpr * n + 1e-9);
  // v: the largest score that must pass; the threshold goes strictly above it.
  const v = sorted[n - allowed - 1];
  let above = n - allowed;
  while (above < n && sorted[above] === v) above++;
  const value = above < n ? v + (sorted[above] - v) / 2 : nextUp(v);
  const falsePositives = n - above;
  const spec: ThresholdSpec = {
    value: value > v ? value : nextUp(v),
    method: 'target-fpr',
    params: { fpr, level, achievedFpr: falsePositives / n },
    fittedOn: normalOnly(n, source),
  };
  if (sorted[0] === sorted[n - 1]) spec.note = allEqualNote(sorted[0]);
  else if (allowed === 0 && fpr > 0)
    spec.note = `only ${n} normal scores: a ${fpr} false-positive rate needs at least ${Math.ceil(1 / fpr - 1e-9)} to allow one, so the threshold sits above the maximum (about ${trialsForUpperBound(fpr)} to show the rate with 95 % confidence)`;
  else if (falsePositives < allowed) spec.note = `ties at the cut: achieved FPR ${falsePositives / n} is below the target ${fpr}`;
  return spec;
}

/** The threshold maximising F1 on a labelled validation set (the highest one on ties). */
export function f1OptimalThreshold(scores: ArrayLike<number>, labels: BinaryLabels, source = 'labelled validation scores'): ThresholdSpec {
  assertNonEmpty(scores, 'f1OptimalThreshold: scores');
  assertFiniteValues(scores, 'f1OptimalThreshold: scores');
  const y = toBinaryLabels(labels, scores.length, 'f1OptimalThreshold: labels');
  let anomalous = 0;
  for (const v of y) anomalous += v;
  const normal = y.length - anomalous;
  if (anomalous === 0) {
    throw new RangeError('f1OptimalThreshold: the validation set has no anomalous sample, so F1 is undefined; use quantileThreshold or targetFprThreshold on normal scores');
  }
  const best = f1Max(scores, y);
  const spec: ThresholdSpec = {
    value: best.threshold,
    method: 'f1-optimal',
    params: { f1: best.f1, precision: best.precision, recall: best.recall },
    fittedOn: { count: y.length, normal, anomalous, source },
  };
  if (normal === 0) spec.note = 'no normal sample in the validation set: the threshold flags every sample';
  else {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < scores.length; i++) {
      min = Math.min(min, scores[i]);
      max = Math.max(max, scores[i]);
    }
    if (min === max) spec.note = `all scores are equal (${min}): no threshold separates the classes; this one flags every sample`;
  }
  return spec;
}

/** A threshold set by hand. */
export function manualThreshold(value: number, source = 'manual'): ThresholdSpec {
  if (!Number.isFinite(value)) throw new RangeError(`manualThreshold: value must be a finite number, got ${value}`);
  return { value, method: 'manual', params: {}, fittedOn: { count: 0, normal: 0, anomalous: 0, source } };
}
