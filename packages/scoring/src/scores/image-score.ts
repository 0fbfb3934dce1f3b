import type { ImageScoreSpec } from '../card/model-card.js';
import { assertFiniteValues, assertNonEmpty } from '../util/checks.js';

export interface ImageScoreExtras {
  /** f-AnoGAN: the discriminator feature residual of this image, needed when spec.kappa is set. */
  discriminatorResidual?: number;
}

/**
 * The image score from its anomaly map: 'mean' (MSE for a squared map), 'max', or 'top-k-mean'
 * (mean of the k = ceil(topKFraction * pixels) largest values, at least 1). With spec.kappa
 * (f-AnoGAN) the score is mapScore + kappa * discriminatorResidual.
 */
export function imageScore(map: ArrayLike<number>, spec: ImageScoreSpec, extras: ImageScoreExtras = {}): number {
  assertNonEmpty(map, 'imageScore: map');
  assertFiniteValues(map, 'imageScore: map');
  let score: number;
  switch (spec.kind) {
    case 'mean': {
      let sum = 0;
      for (let i = 0; i < map.length; i++) sum += map[i];
      score = sum / map.length;
      break;
    }
    case 'max': {
      score = -Infinity;
      for (let i = 0; i < map.length; i++) if (map[i] > score) score = map[i];
      break;
    }
    case 'top-k-mean': {
      const fraction = spec.topKFraction;
      if (fraction === undefined || !(fraction > 0 && fraction <= 1)) {
        throw new RangeError(`imageScore: top-k-mean needs topKFraction in (0, 1], got ${String(fraction)}`);
      }
      const k = Math.max(1, Math.ceil(fraction * map.length));
      score = topKMean(map, k);
      break;
    }
    default:
      throw new RangeError(`image score kind must be 'mean', 'max' or 'top-k-mean', got ${String((spec as { kind: unknown }).kind)}`);
  }
  if (spec.kappa !== undefined && spec.kappa !== 0) {
    const residual = extras.discriminatorResidual;
    if (residual === undefined || !Number.isFinite(residual)) {
      throw new RangeError(`imageScore: kappa = ${spec.kappa} needs a finite discriminatorResidual, got ${String(residual)}`);
    }
    score += spec.kappa * residual;
  }
  return score;
}

/** The residual descriptive statistics of the NCAE method (all population moments). */
export interface ResidualStatistics {
  mean: number;
  /** Population standard deviation (divide by N). */
  std: number;
  variance: number;
  /** Biased (population) skewness m3 / m2^1.5, as scipy.stats.skew; 0 when the variance is 0. */
  skewness: number;
  /** Biased excess kurtosis m4 / m2^2 - 3, as scipy.stats.kurtosis; 0 when the variance is 0. */
  kurtosis: number;
  min: number;
  max: number;
  range: number;
  /** Sum of all values (the cumulative sum's last element). */
  cumulativeSum: number;
  /**
   * Shannon entropy in bits of the value distribution: histogram of RESIDUAL_ENTROPY_BINS (256)
   * equal-width bins over [min, max] (the max falls in the last bin, like numpy.histogram),
   * H = -sum p log2 p over non-empty bins; 0 when all values are equal.
   */
  entropy: number;
}

export const RESIDUAL_ENTROPY_BINS = 256;

/** NCAE residual statistics of a residual (e.g. input - reconstruction, or an anomaly map). */
export function residualStatistics(residual: ArrayLike<number>): ResidualStatistics {
  assertNonEmpty(residual, 'residualStatistics: residual');
  assertFiniteValues(residual, 'residualStatistics: residual');
  const n = residual.length;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = residual[i];
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / n;
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (let i = 0; i < n; i++) {
    const d = residual[i] - mean;
    const d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  const degenerate = m2 <= 0 || max === min;
  const skewness = degenerate ? 0 : m3 / m2 ** 1.5;
  const kurtosis = degenerate ? 0 : m4 / (m2 * m2) - 3;

  let entropy = 0;
  if (max > min) {
    const counts = new Float64Array(RESIDUAL_ENTROPY_BINS);
    const scale = RESIDUAL_ENTROPY_BINS / (max - min);
    for (let i = 0; i < n; i++) {
      const bin = Math.min(RESIDUAL_ENTROPY_BINS - 1, Math.floor((residual[i] - min) * scale));
      counts[bin]++;
    }
    for (const c of counts) {
      if (c > 0) {
        const p = c / n;
        entropy -= p * Math.log2(p);
      }
    }
  }
  return { mean, std: Math.sqrt(m2), variance: m2, skewness, kurtosis, min, max, range: max - min, cumulativeSum: sum, entropy };
}

/**
 * Mean of the k largest values, summed in ascending order: the same number as sorting the whole
 * map and summing its last k values, without the full sort (a 224 x 224 map with k = 1 %: about
 * 0.3 instead of 4 ms). Quickselect puts the k largest at the end, then only those are sorted.
 */
function topKMean(map: ArrayLike<number>, k: number): number {
  const values = new Float64Array(map); // the constructor copies a typed array natively; Float64Array.from iterates (3 ms here)
  const first = values.length - k;
  selectNth(values, first);
  const top = values.subarray(first).sort();
  let sum = 0;
  for (let i = 0; i < top.length; i++) sum += top[i];
  return sum / k;
}

/** Reorders `a` in place so that a[n] is the value a full sort puts there, smaller ones before it, larger after. */
function selectNth(a: Float64Array, n: number): void {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    // median of three as the pivot, so sorted or constant maps stay linear
    const mid = (lo + hi) >>> 1;
    if (a[mid] < a[lo]) swap(a, mid, lo);
    if (a[hi] < a[lo]) swap(a, hi, lo);
    if (a[hi] < a[mid]) swap(a, hi, mid);
    const pivot = a[mid];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (n <= j) hi = j;
    else if (n >= i) lo = i;
    else return;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
