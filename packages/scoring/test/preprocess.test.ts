import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  binarizeMask,
  centerCropBox,
  preprocessImage,
  resamplePlane,
  resizeMap,
  resizeMaskNearest,
  type PreprocessingSpec,
  type RawImage,
} from '../src/index.js';
import { createSeededRandom as seededRandom } from '../src/index.js';

function spec(partial: Partial<PreprocessingSpec>): PreprocessingSpec {
  return { width: 2, height: 2, channels: 1, resize: 'fill', interpolation: 'bilinear', mean: [0], std: [1], ...partial };
}

describe('preprocessImage', () => {
  it('is the identity (up to scaling) when the size is unchanged', () => {
    const rand = seededRandom(1);
    const data = new Uint8Array(5 * 4).map(() => Math.floor(rand() * 256));
    for (const interpolation of ['bilinear', 'nearest'] as const) {
      const out = preprocessImage({ data, width: 5, height: 4, channels: 1 }, spec({ width: 5, height: 4, interpolation }));
      for (let i = 0; i < data.length; i++) expect(out[i]).toBeCloseTo(data[i] / 255, 6);
    }
  });

  it('converts RGB to BT.601 luma, ignores alpha, applies mean/std', () => {
    const raw: RawImage = { data: new Uint8Array([255, 0, 0, 7, 0, 255, 0, 9, 0, 0, 255, 11, 10, 20, 30, 0]), width: 2, height: 2, channels: 4 };
    const out = preprocessImage(raw, spec({ mean: [0.5], std: [0.25] }));
    const lumas = [0.299 * 255, 0.587 * 255, 0.114 * 255, 0.299 * 10 + 0.587 * 20 + 0.114 * 30];
    lumas.forEach((l, i) => expect(out[i]).toBeCloseTo((l / 255 - 0.5) / 0.25, 5));
  });

  it('writes CHW planes for RGB models and replicates grey sources', () => {
    const rgb: RawImage = { data: new Uint8Array([10, 20, 30, 40, 50, 60]), width: 2, height: 1, channels: 3 };
    const s = spec({ width: 2, height: 1, channels: 3, mean: [0, 0, 0], std: [1, 1, 1] });
    expect(Array.from(preprocessImage(rgb, s)).map((v) => Math.round(v * 255))).toEqual([10, 40, 20, 50, 30, 60]);
    const grey: RawImage = { data: new Uint8Array([10, 40]), width: 2, height: 1, channels: 1 };
    expect(Array.from(preprocessImage(grey, s)).map((v) => Math.round(v * 255))).toEqual([10, 40, 10, 40, 10, 40]);
  });

  it("expresses Keras preprocess_input(mode='caffe') exactly: BGR, 0..255, mean subtracted, no std", () => {
    // Independent reference: Keras caffe mode, x[..., ::-1] then x[..., c] -= mean[c] (float32).
    const mean = [103.939, 116.779, 123.68];
    const pixels = [[0, 128, 255], [17, 200, 3], [255, 255, 255]];
    const raw: RawImage = { data: new Uint8Array(pixels.flat()), width: 3, height: 1, channels: 3 };
    const caffe = spec({ width: 3, height: 1, channels: 3, mean, std: [1, 1, 1], channelOrder: 'bgr', pixelDivisor: 1 });
    const out = preprocessImage(raw, caffe);
    const expected = new Float32Array(9);
    for (let c = 0; c < 3; c++) for (let x = 0; x < 3; x++) expected[c * 3 + x] = Math.fround(pixels[x][2 - c] - Math.fround(mean[c]));
    // Keras rounds the mean to float32 before subtracting, we subtract in double: one float32 ulp apart at most.
    for (let i = 0; i < 9; i++) expect(Math.abs(out[i] - expected[i])).toBeLessThanOrEqual(Math.abs(expected[i]) * 2 ** -23);
    // bgr with the default divisor only reorders the planes of the rgb result.
    const rgb = preprocessImage(raw, spec({ width: 3, height: 1, channels: 3, mean: [0, 0, 0], std: [1, 1, 1] }));
    const bgr = preprocessImage(raw, spec({ width: 3, height: 1, channels: 3, mean: [0, 0, 0], std: [1, 1, 1], channelOrder: 'bgr' }));
    expect(Array.from(bgr)).toEqual([...rgb.slice(6, 9), ...rgb.slice(3, 6), ...rgb.slice(0, 3)]);
    expect(() => preprocessImage(raw, { ...caffe, pixelDivisor: 128 as 1 })).toThrow(/pixelDivisor must be 1 or 255/);
    expect(() => preprocessImage(raw, { ...caffe, channelOrder: 'brg' as 'bgr' })).toThrow(/channelOrder must be 'rgb' or 'bgr'/);
    expect(() => preprocessImage(raw, { ...caffe, channels: 1, mean: [0], std: [1] })).toThrow(/'bgr' needs channels 3/);
  });

  it('keeps constant images constant at any size and filter', () => {
    const raw: RawImage = { data: new Uint8Array(7 * 5).fill(77), width: 7, height: 5, channels: 1 };
    for (const interpolation of ['bilinear', 'nearest'] as const) {
      for (const resize of ['fill', 'center-crop'] as const) {
        for (const [w, h] of [[3, 3], [16, 9], [7, 2]]) {
          const out = preprocessImage(raw, spec({ width: w, height: h, interpolation, resize }));
          for (const v of out) expect(v).toBeCloseTo(77 / 255, 6);
        }
      }
    }
  });

  it('rejects wrong channel counts, zero sizes and length mismatches with clear errors', () => {
    const good: RawImage = { data: new Uint8Array(4), width: 2, height: 2, channels: 1 };
    expect(() => preprocessImage({ ...good, channels: 5 as 1 }, spec({}))).toThrow(/channels must be 1, 2, 3 or 4/);
    expect(() => preprocessImage({ ...good, width: 0 }, spec({}))).toThrow(/image.width must be a positive integer/);
    expect(() => preprocessImage({ ...good, data: new Uint8Array(3) }, spec({}))).toThrow(/has 3 bytes but 2x2x1 needs 4/);
    expect(() => preprocessImage(good, spec({ width: 0 }))).toThrow(/preprocessing.width/);
    expect(() => preprocessImage(good, spec({ channels: 2 as 1 }))).toThrow(/preprocessing.channels must be 1 or 3/);
    expect(() => preprocessImage(good, spec({ mean: [0, 0] }))).toThrow(/preprocessing.mean/);
    expect(() => preprocessImage(good, spec({ std: [0] }))).toThrow(/std must not contain 0/);
  });
});

describe('resampler', () => {
  it('matches hand-computed PIL-style antialiased weights when halving a 1-px checkerboard', () => {
    // 4 px row [0,255,0,255] -> 2 px. Output 0: centre 1.0, support 2, taps j=0,1,2 with weights
    // .75,.75,.25 (sum 1.75); output 1: centre 3.0, taps j=1,2,3 with .25,.75,.75.
    const row = new Float32Array([0, 255, 0, 255]);
    const out = resamplePlane(row, 4, 1, 2, 1, 'bilinear');
    expect(out[0]).toBeCloseTo((255 * 0.75) / 1.75, 4);
    expect(out[1]).toBeCloseTo((255 * 0.25 + 255 * 0.75) / 1.75, 4);
  });

  it('averages a checkerboard to mid-grey away from the borders when downscaling by 2', () => {
    const n = 16;
    const board = new Float32Array(n * n).map((_, i) => (((i % n) + Math.floor(i / n)) % 2 ? 255 : 0));
    const out = resamplePlane(board, n, n, n / 2, n / 2, 'bilinear');
    for (let y = 1; y < n / 2 - 1; y++) for (let x = 1; x < n / 2 - 1; x++) expect(out[y * (n / 2) + x]).toBeCloseTo(127.5, 4);
    // Nearest picks the pixel under each output centre: source (2x+1, 2y+1), always 0.
    const nearest = resamplePlane(board, n, n, n / 2, n / 2, 'nearest');
    for (const v of nearest) expect(v).toBe(0);
  });

  it('interpolates linearly with half-pixel centres when upsampling by 2', () => {
    const out = resamplePlane(new Float32Array([0, 100]), 2, 1, 4, 1, 'bilinear');
    // Output centres at 0.25, 0.75, 1.25, 1.75 source px; borders clamp.
    expect(Array.from(out)).toEqual([0, 25, 75, 100]);
  });

  it('center-crop takes the centred square of a wide image', () => {
    const box = centerCropBox(300, 200, 100, 100);
    expect(box).toEqual({ x: 50, y: 0, width: 200, height: 200 });
    // 4x2 image with columns [10,20,30,40] -> 2x2 center-crop at the same scale keeps columns 20,30.
    const data = new Uint8Array([10, 20, 30, 40, 10, 20, 30, 40]);
    const out = preprocessImage({ data, width: 4, height: 2, channels: 1 }, spec({ resize: 'center-crop' }));
    expect(Array.from(out).map((v) => Math.round(v * 255))).toEqual([20, 30, 20, 30]);
    const tall = centerCropBox(100, 400, 50, 100);
    expect(tall).toEqual({ x: 0, y: 100, width: 100, height: 200 });
  });

  it('resizeMap validates the source size and keeps constants', () => {
    expect(() => resizeMap(new Float32Array(5), 2, 2, 2, 2)).toThrow(/srcWidth x srcHeight = 2x2 needs 4/);
    const up = resizeMap(new Float32Array(6).fill(0.3), 9, 7, 3, 2);
    expect(up.length).toBe(63);
    for (const v of up) expect(v).toBeCloseTo(0.3, 6);
  });

  it('resizeMaskNearest copies values and binarizeMask thresholds at 128', () => {
    const mask = new Uint8Array([0, 255, 0, 127]);
    const up = resizeMaskNearest(mask, 4, 4, 2, 2);
    expect(Array.from(up)).toEqual([0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 127, 127, 0, 0, 127, 127]);
    expect(Array.from(binarizeMask(new Uint8Array([0, 127, 128, 255])))).toEqual([0, 0, 1, 1]);
    expect(() => resizeMaskNearest(mask, 0, 4, 2, 2)).toThrow(/width must be a positive integer/);
  });
});

describe('resampler against Pillow (test/fixtures/resample.json)', () => {
  interface ResampleFixture {
    pillow: string;
    srcWidth: number;
    srcHeight: number;
    source: number[];
    cases: Array<{ width: number; height: number; filter: 'bilinear' | 'nearest'; box: [number, number, number, number] | null; values: number[] }>;
  }
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/resample.json', import.meta.url), 'utf8')) as ResampleFixture;
  it('the box case is what center-crop uses for 37x23 -> 16x16', () => {
    expect(centerCropBox(37, 23, 16, 16)).toEqual({ x: 7, y: 0, width: 23, height: 23 });
  });
  for (const c of fixture.cases) {
    it(`${c.filter} ${fixture.srcWidth}x${fixture.srcHeight} -> ${c.width}x${c.height}${c.box ? ' (box)' : ''} matches Pillow ${fixture.pillow}`, () => {
      const box = c.box ? { x: c.box[0], y: c.box[1], width: c.box[2] - c.box[0], height: c.box[3] - c.box[1] } : undefined;
      const out = resamplePlane(fixture.source, fixture.srcWidth, fixture.srcHeight, c.width, c.height, c.filter, box);
      let worst = 0;
      c.values.forEach((v, i) => (worst = Math.max(worst, Math.abs(out[i] - v))));
      expect(worst).toBeLessThan(1e-3); // Pillow keeps float32 intermediates, we keep float64
    });
  }
});
