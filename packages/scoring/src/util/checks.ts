/** Throws a clear error naming the first non-finite value (NaN or infinity). */
export function assertFiniteValues(values: ArrayLike<number>, name: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new RangeError(`${name}[${i}] is ${values[i]}; scores must be finite numbers`);
  }
}

export function assertNonEmpty(values: ArrayLike<number>, name: string): void {
  if (values === null || values === undefined || typeof values.length !== 'number') throw new TypeError(`${name} must be an array of numbers`);
  if (values.length === 0) throw new RangeError(`${name} is empty`);
}

/** Sorted ascending copy as Float64Array (native numeric typed-array sort). */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(values);
  out.sort();
  return out;
}

/** numpy.quantile(..., method='linear') on an ascending-sorted array; q in [0, 1]. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const position = q * (sorted.length - 1);
  const lo = Math.floor(position);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const frac = position - lo;
  return frac === 0 ? sorted[lo] : sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

/** The smallest double greater than x (x finite). */
export function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  view.setBigUint64(0, x > 0 ? bits + 1n : bits - 1n);
  return view.getFloat64(0);
}
