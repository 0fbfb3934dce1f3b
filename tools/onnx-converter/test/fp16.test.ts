/** fp16 export: float16 encoding against numpy, and a loosely toleranced parity run of a CAE-like model. */
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertLayersModel } from '../src/index.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../src/fp16.js';
import { decodeModelObject } from '../src/onnx-model.js';
import { expectValidOnnx } from './helpers/onnx-checker.js';
import { checkParity, randomizeWeights, saveToMemory, seededRandom, tf, useCpuBackend } from './helpers/tfjs-harness.js';

beforeAll(useCpuBackend);

describe('float32 -> float16 bits', () => {
  it('matches numpy astype(float16) on edge cases and random values over the whole range', () => {
    const random = seededRandom(21);
    const values = [0, -0, 1, -2, 0.1, 1 / 3, 65504, 65519, 65520, 1e6, -1e6, 2 ** -24, 2 ** -25, 2 ** -25 * 1.5, 2 ** -14, 2 ** -14 - 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, Infinity, -Infinity];
    for (let i = 0; i < 3000; i += 1) values.push((random() - 0.5) * 2 ** Math.floor(random() * 50 - 30));
    const f32 = Float32Array.from(values);
    const numpy = spawnSync('/usr/bin/python3', ['-c', 'import sys, numpy as np; a = np.array([float(v) for v in sys.stdin.read().split()], dtype=np.float32); print(" ".join(str(int(x)) for x in a.astype(np.float16).view(np.uint16)))'], {
      input: Array.from(f32, (v) => (Object.is(v, -0) ? '-0.0' : Number.isFinite(v) ? v.toPrecision(9) : v > 0 ? 'inf' : '-inf')).join(' '),
      encoding: 'utf8',
    });
    if (numpy.status !== 0) throw new Error(`numpy oracle failed (Debian python3-numpy comes with python3-onnx): ${numpy.stderr}`);
    const expected = numpy.stdout.trim().split(' ').map(Number);
    const ours = Array.from(f32, float32ToFloat16Bits);
    const mismatches = ours.map((bits, i) => [f32[i], bits, expected[i]]).filter(([, a, b]) => a !== b);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(float32ToFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(float16BitsToFloat32(0x3c00)).toBe(1);
    expect(float16BitsToFloat32(0x0001)).toBe(2 ** -24);
  });
});

function caeLike(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.leakyReLU({ alpha: 0.2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 1, padding: 'same' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x });
}

describe('fp16 export', () => {
  it('stores float16 weights, keeps a float32 interface, passes the checker and stays close to float32', async () => {
    const model = caeLike();
    randomizeWeights(model, 12);
    const fp32 = convertLayersModel(await saveToMemory(model));
    const result = await checkParity(model, { batch: 2, convert: { fp16: true } });
    expectValidOnnx(result.conversion.onnx);
    const decoded = decodeModelObject(result.conversion.onnx) as { graph: { initializer: Array<{ name: string; dataType: number }>; input: Array<{ type: { tensorType: { elemType: number } } }>; output: Array<{ type: { tensorType: { elemType: number } } }> } };
    const types = new Set(decoded.graph.initializer.map((i) => i.dataType));
    expect(types.has(10)).toBe(true); // FLOAT16 weights
    expect(decoded.graph.initializer.filter((i) => i.dataType === 1).map((i) => i.name)).toEqual([expect.stringMatching(/scales/)]); // Resize scales stay float
    expect(decoded.graph.input.map((i) => i.type.tensorType.elemType)).toEqual([1]);
    expect(decoded.graph.output.map((o) => o.type.tensorType.elemType)).toEqual([1]);
    expect(result.conversion.onnx.byteLength).toBeLessThan(fp32.onnx.byteLength * 0.75);
    const diff = Math.max(result.nodeDiff.reconstruction, result.webDiff.reconstruction);
    expect(diff).toBeGreaterThan(0); // really computed in half precision
    expect(diff).toBeLessThan(5e-2);
    expect(result.conversion.report.fp16).toBe(true);
  });

  it('fp16 with MC-Dropout masks casts the mask inputs too', async () => {
    const { McDropout } = await import('@residuum/train');
    const input = tf.input({ shape: [6, 6, 2] });
    let x = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    x = new McDropout({ rate: 0.2 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: x });
    randomizeWeights(model, 13);
    const result = await checkParity(model, { batch: 2, convert: { fp16: true } });
    expect(Math.max(result.nodeDiff.reconstruction, result.webDiff.reconstruction)).toBeLessThan(2e-2);
  });
});
