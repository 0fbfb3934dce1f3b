import { describe, expect, it } from 'vitest';
import { argsortAscending, float32FromSortKey, float32SortKeys, radixArgsort } from '../src/metrics/sort.js';
import { seededRandom } from './helpers.js';

describe('radix sort of float32 scores', () => {
  it('orders like a numeric sort, including negatives, zeros and infinities, and round-trips keys', () => {
    const rand = seededRandom(17);
    const values = Float32Array.from({ length: 5000 }, (_, i) => (i % 97 === 0 ? -0 : i % 101 === 0 ? Infinity : (rand() - 0.5) * 10 ** Math.floor(rand() * 8 - 4)));
    values[3] = -Infinity;
    const keys = float32SortKeys(values);
    const order = radixArgsort(keys);
    // -0 and +0 compare equal, so compare with both normalised to +0.
    const sorted = Array.from(order, (i) => values[i] + 0);
    const expected = Array.from(values, (v) => v + 0).sort((a, b) => a - b);
    expect(sorted).toEqual(expected);
    for (let i = 0; i < values.length; i++) expect(float32FromSortKey(keys[i])).toBe(values[i] + 0);
    // argsortAscending takes the radix path for long Float32Arrays and is stable on ties.
    const ties = Float32Array.from({ length: 4096 }, (_, i) => i % 3);
    const stable = argsortAscending(ties);
    for (let i = 1; i < stable.length; i++) {
      if (ties[stable[i]] === ties[stable[i - 1]]) expect(stable[i]).toBeGreaterThan(stable[i - 1]);
    }
  });
});
