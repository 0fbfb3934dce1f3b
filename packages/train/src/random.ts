import { createSeededRandom } from '@residuum/scoring';

/** Small seeded PRNG (mulberry32): deterministic across platforms, enough for noise and shuffles. */
export interface SeededRandom {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [min, max). */
  uniform(min: number, max: number): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** A fresh 32-bit seed for a derived generator or a tf op. */
  seed(): number;
}

export function createRandom(seed: number): SeededRandom {
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
  const next = createSeededRandom((Math.floor(seed) ^ 0x9e3779b9) >>> 0);
  return {
    next,
    uniform: (min, max) => min + (max - min) * next(),
    int: (n) => Math.floor(next() * n),
    seed: () => Math.floor(next() * 2147483647),
  };
}

/** Fisher-Yates shuffle of a copy, driven by the seeded generator. */
export function shuffled<T>(items: readonly T[], random: SeededRandom): T[] {
  const copy = items.slice();
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const tmp = copy[i];
    copy[i] = copy[j];
    copy[j] = tmp;
  }
  return copy;
}
