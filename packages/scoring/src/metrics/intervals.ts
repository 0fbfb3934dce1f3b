/**
 * Exact (Clopper-Pearson) binomial confidence intervals, for "X of N defective parts caught"
 * and "U of V good parts rejected". Exact rather than Wilson because calibration sets are small
 * and users read the lower bound as a guarantee: 5 of 5 caught gives [0.478, 1] (Wilson: 0.566).
 */

export interface ProportionInterval {
  /** successes / trials (0 when there are no trials). */
  estimate: number;
  lower: number;
  upper: number;
  /** Two-sided confidence level, e.g. 0.95. */
  confidence: number;
  method: 'clopper-pearson';
  successes: number;
  trials: number;
}

/** Two-sided Clopper-Pearson interval for `successes` of `trials`; [0, 1] without trials. */
export function clopperPearson(successes: number, trials: number, confidence = 0.95): ProportionInterval {
  if (!Number.isInteger(trials) || trials < 0) throw new RangeError(`clopperPearson: trials must be a whole number >= 0, got ${trials}`);
  if (!Number.isInteger(successes) || successes < 0 || successes > trials) throw new RangeError(`clopperPearson: successes must be a whole number in [0, ${trials}], got ${successes}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`clopperPearson: confidence must be in (0, 1), got ${confidence}`);
  const alpha = 1 - confidence;
  const base = { confidence, method: 'clopper-pearson' as const, successes, trials };
  if (trials === 0) return { ...base, estimate: 0, lower: 0, upper: 1 };
  const lower = successes === 0 ? 0 : betaQuantile(alpha / 2, successes, trials - successes + 1);
  const upper = successes === trials ? 1 : betaQuantile(1 - alpha / 2, successes + 1, trials - successes);
  return { ...base, estimate: successes / trials, lower, upper };
}

/**
 * The fewest trials for which `0 of n` has a two-sided Clopper-Pearson upper bound <= rate,
 * i.e. how many good images it takes to show a false-alarm rate of `rate` when none is rejected.
 */
export function trialsForUpperBound(rate: number, confidence = 0.95): number {
  if (!(rate > 0 && rate < 1)) throw new RangeError(`trialsForUpperBound: rate must be in (0, 1), got ${rate}`);
  // upper(0 of n) = 1 - (alpha / 2)^(1 / n)
  return Math.ceil(Math.log((1 - confidence) / 2) / Math.log(1 - rate) - 1e-9);
}

/** ln Gamma(x), x > 0 (Lanczos, g = 7, n = 9; relative error below 1e-14). */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let sum = c[0];
  for (let i = 1; i < 9; i++) sum += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** The p-quantile of Beta(a, b) by bisection (I_x is monotone; 200 halvings reach double precision). */
export function betaQuantile(p: number, a: number, b: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-16; i++) {
    const mid = (lo + hi) / 2;
    if (regularizedBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
