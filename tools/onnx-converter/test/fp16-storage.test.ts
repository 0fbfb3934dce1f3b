/** The fp16-storage pass on a decoded graph: which initializers it stores as float16, and the Casts it adds. */
import { describe, expect, it } from 'vitest';
import { storeInitializersAsFloat16, type StoredGraph } from '../src/index.js';
import { float16BitsToFloat32 } from '../src/fp16.js';

function floatTensor(name: string, values: number[]) {
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return { name, dataType: 1, dims: [values.length], rawData: raw };
}

describe('storeInitializersAsFloat16', () => {
  it('stores large float32 initializers as rounded float16 behind a Cast of the same name; leaves small, int64, out-of-range and kept ones', () => {
    const big = Array.from({ length: 2048 }, (_, i) => Math.sin(i) * 3 + 4);
    const graph: StoredGraph = {
      node: [{ name: 'conv', opType: 'Conv', input: ['x', 'w', 'b'], output: ['y'] }],
      initializer: [
        floatTensor('w', big),
        floatTensor('b', [1, 2, 3]),
        floatTensor('huge', Array.from({ length: 2048 }, (_, i) => (i === 7 ? 70000 : 1))),
        { name: 'shape', dataType: 7, dims: [2], rawData: new Uint8Array(16) },
        { name: 'w/fp16', dataType: 1, dims: [1], floatData: [0] },
        floatTensor('kept', big),
      ],
    };
    const report = storeInitializersAsFloat16(graph, { keepFloat32: (name) => name === 'kept' });
    expect(report).toMatchObject({ converted: 1, outOfRange: ['huge'] });
    expect(report.bytesBefore - report.bytesAfter).toBe(2048 * 2);
    const stored = graph.initializer[0];
    // The name 'w/fp16' was taken: the next free one is used.
    expect(stored).toMatchObject({ name: 'w/fp16_2', dataType: 10 });
    expect(graph.node[0]).toEqual({ name: 'w/to_float32', opType: 'Cast', input: ['w/fp16_2'], output: ['w'], attribute: [{ name: 'to', type: 2, i: 1 }] });
    expect(graph.node[1].opType).toBe('Conv');
    const view = new DataView(stored.rawData!.buffer, stored.rawData!.byteOffset);
    let worst = 0;
    big.forEach((v, i) => (worst = Math.max(worst, Math.abs(float16BitsToFloat32(view.getUint16(i * 2, true)) - v) / Math.abs(v))));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(graph.initializer.slice(1).map((t) => [t.name, t.dataType])).toEqual([['b', 1], ['huge', 1], ['shape', 7], ['w/fp16', 1], ['kept', 1]]);
  });
});
