/**
 * Sorting without arrays of objects: an LSD radix argsort on order-preserving uint32 keys of
 * float32 scores (3 passes of 11/11/10 bits), and a comparator argsort for other inputs.
 */

const RADIX_MIN_LENGTH = 2048;

/** Order-preserving uint32 key of each float32 (negative floats flipped; -0 and +0 share a key). */
export function float32SortKeys(scores: Float32Array): Uint32Array {
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  const keys = new Uint32Array(scores.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    keys[i] = b === 0x80000000 ? 0x80000000 : b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
  }
  return keys;
}

/** The float32 value of an order-preserving key (inverse of float32SortKeys). */
export function float32FromSortKey(key: number): number {
  keyBits[0] = key & 0x80000000 ? (key & 0x7fffffff) >>> 0 : ~key >>> 0;
  return keyFloat[0];
}
const keyBits = new Uint32Array(1);
const keyFloat = new Float32Array(keyBits.buffer);

/** Stable ascending argsort of uint32 keys. */
export function radixArgsort(keys: Uint32Array): Uint32Array {
  const index = new Uint32Array(keys.length);
  for (let i = 0; i < index.length; i++) index[i] = i;
  return radixSortPairs(keys, index).payload;
}

/**
 * Stable ascending sort of (key, payload) pairs; returns new arrays. Carrying the payload (a label
 * or region id) instead of an index keeps the later threshold sweep sequential in memory.
 */
export function radixSortPairs(keys: Uint32Array, payload: Uint32Array | Int32Array): { keys: Uint32Array; payload: Uint32Array } {
  const n = keys.length;
  let keyA = keys.slice();
  let keyB = new Uint32Array(n);
  let idxA = Uint32Array.from(payload);
  let idxB = new Uint32Array(n);
  const counts = new Uint32Array(2048);
  for (const [shift, bits] of [[0, 11], [11, 11], [22, 10]] as const) {
    const mask = (1 << bits) - 1;
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(keyA[i] >>> shift) & mask]++;
    if (counts[(keyA[0] >>> shift) & mask] === n) continue; // every key shares this digit
    let total = 0;
    for (let d = 0; d <= mask; d++) {
      const c = counts[d];
      counts[d] = total;
      total += c;
    }
    for (let i = 0; i < n; i++) {
      const k = keyA[i];
      const pos = counts[(k >>> shift) & mask]++;
      keyB[pos] = k;
      idxB[pos] = idxA[i];
    }
    [keyA, keyB] = [keyB, keyA];
    [idxA, idxB] = [idxB, idxA];
  }
  return { keys: keyA, payload: idxA };
}

/** Ascending argsort of scores (finite values assumed). Ties keep input order. */
export function argsortAscending(scores: ArrayLike<number>): Uint32Array {
  if (scores instanceof Float32Array && scores.length >= RADIX_MIN_LENGTH) return radixArgsort(float32SortKeys(scores));
  const order = new Uint32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => scores[a] - scores[b] || a - b);
  return order;
}
