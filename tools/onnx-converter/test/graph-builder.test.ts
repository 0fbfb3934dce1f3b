import { describe, expect, it } from 'vitest';
import { permute } from '../src/graph-builder.js';

/** Reference: element at output index = input at the permuted index, computed from coordinates. */
function naivePermute(values: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const out = new Float32Array(values.length);
  const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  for (let o = 0; o < out.length; o += 1) {
    let rest = o;
    const outIndex = outShape.map((_, d) => {
      const size = outShape.slice(d + 1).reduce((a, b) => a * b, 1);
      const i = Math.floor(rest / size);
      rest -= i * size;
      return i;
    });
    const source = outIndex.reduce((sum, i, d) => sum + i * strides[perm[d]], 0);
    out[o] = values[source];
  }
  return out;
}

describe('permute', () => {
  for (const [shape, perm] of [
    [[2, 3, 4, 5], [3, 2, 0, 1]],
    [[3, 1, 2, 4], [2, 3, 0, 1]],
    [[2, 3, 4], [2, 0, 1]],
    [[4, 5], [1, 0]],
  ] as Array<[number[], number[]]>) {
    it(`shape ${JSON.stringify(shape)} perm ${JSON.stringify(perm)}`, () => {
      const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i);
      expect(Array.from(permute(values, shape, perm))).toEqual(Array.from(naivePermute(values, shape, perm)));
    });
  }
});
