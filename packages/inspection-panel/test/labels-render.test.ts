import { describe, expect, test } from 'vitest';
import { groundTruthFromPath, heatmapOverlayRgba, modelImageToRgba } from '../src/index.js';

describe('groundTruthFromPath', () => {
  test.each([
    ['casting/ok_front/cast_ok_0_10.jpeg', 'good'],
    ['test/good/000.png', 'good'],
    ['C:\\data\\OK\\a.png', 'good'],
    ['normal/x.bmp', 'good'],
    ['casting/def_front/cast_def_0_1.jpeg', 'defective'],
    ['magnetic_tile/test/crack/000.jpg', 'defective'],
    ['okay-ish/x.png', 'defective'],
  ])('%s -> %s', (path, truth) => {
    expect(groundTruthFromPath(path)).toBe(truth);
  });

  test('a bare file name says nothing', () => {
    expect(groundTruthFromPath('good.png')).toBeUndefined();
    expect(groundTruthFromPath('')).toBeUndefined();
  });
});

describe('render', () => {
  test('modelImageToRgba undoes the normalisation and shows grey as grey', () => {
    // mean 0.5, std 0.25: value v -> (v * 0.25 + 0.5) * 255.
    const pixels = modelImageToRgba({ data: new Float32Array([-2, 0, 2, 10]), channels: 1, height: 2, width: 2 }, { mean: [0.5], std: [0.25] });
    expect(pixels.width).toBe(2);
    expect([...pixels.data]).toEqual([0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255, 255, 255, 255, 255]);
  });

  test('modelImageToRgba turns Caffe-style BGR planes (0..255, mean subtracted) back into RGB', () => {
    const data = new Float32Array([10 - 103.939, -103.939, 120 - 116.779, 255 - 116.779, 250 - 123.68, 7 - 123.68]); // B, G, R planes
    const pixels = modelImageToRgba({ data, channels: 3, height: 1, width: 2 }, { mean: [103.939, 116.779, 123.68], std: [1, 1, 1], channelOrder: 'bgr', pixelDivisor: 1 });
    expect([...pixels.data]).toEqual([250, 120, 10, 255, 7, 255, 0, 255]);
  });

  test('modelImageToRgba keeps RGB planes apart', () => {
    const data = new Float32Array([1, 0, 0, 1, 0, 0]); // CHW, 1x2: R=[1,0] G=[0,1] B=[0,0]
    const pixels = modelImageToRgba({ data, channels: 3, height: 1, width: 2 }, { mean: [0, 0, 0], std: [1, 1, 1] });
    expect([...pixels.data]).toEqual([255, 0, 0, 255, 0, 255, 0, 255]);
  });

  test('modelImageToRgba and heatmapOverlayRgba refuse mismatched sizes', () => {
    const input = { data: new Float32Array(4), channels: 1, height: 2, width: 2 };
    expect(() => modelImageToRgba({ ...input, data: new Float32Array(3) }, { mean: [0], std: [1] })).toThrow(/3 values do not make 1x2x2/);
    expect(() => modelImageToRgba(input, { mean: [0, 0, 0], std: [1, 1, 1] })).toThrow(/mean\/std need 1 entries/);
    expect(() => heatmapOverlayRgba(input, { data: new Float32Array(9), width: 3, height: 3 }, { mean: [0], std: [1] }, 1)).toThrow(/map is 3x3, input is 2x2/);
  });

  test('heatmapOverlayRgba: zero residual leaves a dark-violet tint, the scale maximum a yellow one', () => {
    const input = { data: new Float32Array([0.5, 0.5]), channels: 1, height: 1, width: 2 };
    const pixels = heatmapOverlayRgba(input, { data: new Float32Array([0, 1]), width: 2, height: 1 }, { mean: [0], std: [1] }, 1, 1);
    // alpha 1: pure viridis, first entry (68,1,84) and last (253,231,37).
    expect([...pixels.data.subarray(0, 3)]).toEqual([68, 1, 84]);
    expect([...pixels.data.subarray(4, 7)]).toEqual([253, 231, 37]);
  });
});
