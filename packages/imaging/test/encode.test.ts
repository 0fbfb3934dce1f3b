import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { VIRIDIS_RGB, preprocessImage, type PreprocessingSpec, type RawImage } from '@residuum/scoring';
import { decodeImage, encodePng, modelTensorToImage, renderHeatmap, renderHeatmapOverlay, sideBySide } from '../src/index.js';

/** Deterministic pseudo-random bytes (LCG), so fixtures vary without being hand-typed. */
function bytes(length: number, seed: number): Uint8Array {
  let state = seed >>> 0;
  return Uint8Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state >>> 24;
  });
}

const pixel = (image: RawImage, x: number, y: number): number[] =>
  [...image.data.subarray((y * image.width + x) * image.channels, (y * image.width + x + 1) * image.channels)];

describe('encodePng', () => {
  it('round-trips grey, RGB and RGBA losslessly', async () => {
    for (const channels of [1, 3] as const) {
      const image: RawImage = { data: bytes(5 * 3 * channels, channels), width: 5, height: 3, channels };
      const back = await decodeImage(await encodePng(image));
      expect(back).toEqual({ ...image, data: new Uint8Array(image.data) });
    }
    const greyAlpha: RawImage = { data: bytes(5 * 3 * 2, 2), width: 5, height: 3, channels: 2 };
    const gaPng = await encodePng(greyAlpha);
    expect((await sharp(gaPng).metadata()).channels).toBe(2);
    const ga = await sharp(gaPng).raw().toBuffer(); // read back as RGBA
    expect([...ga].filter((_, i) => i % 4 === 0 || i % 4 === 3)).toEqual([...greyAlpha.data]);
    const rgba: RawImage = { data: bytes(5 * 3 * 4, 4), width: 5, height: 3, channels: 4 };
    const { data } = await sharp(await encodePng(rgba)).raw().toBuffer({ resolveWithObject: true });
    expect([...data]).toEqual([...rgba.data]);
  });

  it('rejects data that does not match the size', async () => {
    await expect(encodePng({ data: new Uint8Array(5), width: 2, height: 2, channels: 1 })).rejects.toThrow(/encodePng: image must be a RawImage/);
  });

  it('keeps the pixels at any compression level, and refuses a level outside 0-9', async () => {
    // a gradient with some noise: compressible, so the levels give different files
    const noise = bytes(40 * 30 * 3, 3);
    const image: RawImage = { data: Uint8Array.from(noise, (v, i) => ((i % 120) + (v & 3)) & 255), width: 40, height: 30, channels: 3 };
    for (const compressionLevel of [0, 1, 9]) {
      expect(await decodeImage(await encodePng(image, { compressionLevel }))).toEqual({ ...image, data: new Uint8Array(image.data) });
    }
    expect((await encodePng(image, { compressionLevel: 0 })).length).toBeGreaterThan((await encodePng(image, { compressionLevel: 9 })).length);
    await expect(encodePng(image, { compressionLevel: 10 })).rejects.toThrow(/compressionLevel must be an integer 0-9, got 10/);
  });
});

describe('modelTensorToImage', () => {
  it('inverts preprocessing at the model size', () => {
    const spec: PreprocessingSpec = { width: 6, height: 4, channels: 3, resize: 'fill', interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    const image: RawImage = { data: bytes(6 * 4 * 3, 9), width: 6, height: 4, channels: 3 };
    expect(modelTensorToImage(preprocessImage(image, spec), spec).data).toEqual(new Uint8ClampedArray(image.data));
  });

  it('inverts Caffe-style preprocessing (BGR, 0..255, mean only) back to RGB pixels', () => {
    const spec: PreprocessingSpec = {
      width: 6, height: 4, channels: 3, resize: 'fill', interpolation: 'bilinear',
      mean: [103.939, 116.779, 123.68], std: [1, 1, 1], channelOrder: 'bgr', pixelDivisor: 1,
    };
    const image: RawImage = { data: bytes(6 * 4 * 3, 5), width: 6, height: 4, channels: 3 };
    expect(modelTensorToImage(preprocessImage(image, spec), spec).data).toEqual(new Uint8ClampedArray(image.data));
  });
});

describe('heatmaps', () => {
  const map = { data: Float32Array.from([0, 1, 2, 3, 4, 5]), width: 3, height: 2 };
  const first = [VIRIDIS_RGB[0], VIRIDIS_RGB[1], VIRIDIS_RGB[2]];
  const last = [VIRIDIS_RGB[765], VIRIDIS_RGB[766], VIRIDIS_RGB[767]];

  it('renderHeatmap spans viridis over the map range, or the given one', () => {
    const own = renderHeatmap(map);
    expect([own.width, own.height, own.channels]).toEqual([3, 2, 3]);
    expect(pixel(own, 0, 0)).toEqual(first);
    expect(pixel(own, 2, 1)).toEqual(last);
    const fixed = renderHeatmap(map, { range: { min: 4, max: 10 } });
    expect(pixel(fixed, 1, 1)).toEqual(first); // 4 is the bottom of the range
  });

  it('overlay: alpha 0 keeps the base, alpha 1 shows the resized heatmap', () => {
    const base: RawImage = { data: bytes(6 * 4, 3), width: 6, height: 4, channels: 1 };
    const keep = renderHeatmapOverlay(base, map, { alpha: 0 });
    expect([keep.width, keep.height, keep.channels]).toEqual([6, 4, 3]);
    for (let i = 0; i < 24; i++) expect(pixel(keep, i % 6, Math.floor(i / 6))).toEqual([base.data[i], base.data[i], base.data[i]]);
    const heat = renderHeatmapOverlay(base, { data: new Float32Array(6).fill(7), width: 3, height: 2 }, { alpha: 1, range: { min: 0, max: 7 } });
    expect(pixel(heat, 0, 0)).toEqual(last);
    expect(pixel(heat, 5, 3)).toEqual(last);
  });

  it('overlay of a map at the base size: each pixel gets its own map value (no resampling shift)', () => {
    const base: RawImage = { data: bytes(7 * 5, 4), width: 7, height: 5, channels: 1 };
    const own = { data: Float32Array.from(bytes(35, 9), (v) => v / 255), width: 7, height: 5 };
    const range = { min: 0, max: 1 };
    expect(renderHeatmapOverlay(base, own, { alpha: 1, range })).toEqual(renderHeatmap(own, { range }));
    // and the map is not modified
    expect(own.data).toEqual(Float32Array.from(bytes(35, 9), (v) => v / 255));
  });

  it("overlay with 'center-crop' marks only the region the model saw", () => {
    const base: RawImage = { data: new Uint8Array(8 * 4 * 3).fill(200), width: 8, height: 4, channels: 3 };
    const square = { data: new Float32Array(4).fill(1), width: 2, height: 2 };
    const out = renderHeatmapOverlay(base, square, { alpha: 1, range: { min: 0, max: 1 }, resize: 'center-crop' });
    expect(pixel(out, 1, 1)).toEqual([200, 200, 200]); // left border (x < 2)
    expect(pixel(out, 6, 2)).toEqual([200, 200, 200]); // right border (x >= 6)
    expect(pixel(out, 2, 0)).toEqual(last);
    expect(pixel(out, 5, 3)).toEqual(last);
  });
});

describe('sideBySide', () => {
  it('places panels left to right with a black gap, grey replicated, top-aligned', () => {
    const grey: RawImage = { data: Uint8Array.from([10, 20, 30, 40]), width: 2, height: 2, channels: 1 };
    const rgb: RawImage = { data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), width: 3, height: 1, channels: 3 };
    const out = sideBySide([grey, rgb], 1);
    expect([out.width, out.height, out.channels]).toEqual([6, 2, 3]);
    expect(pixel(out, 1, 1)).toEqual([40, 40, 40]);
    expect(pixel(out, 2, 0)).toEqual([0, 0, 0]); // gap
    expect(pixel(out, 3, 0)).toEqual([1, 2, 3]);
    expect(pixel(out, 5, 0)).toEqual([7, 8, 9]);
    expect(pixel(out, 4, 1)).toEqual([0, 0, 0]); // below the shorter panel
    expect(() => sideBySide([])).toThrow(/at least one panel/);
  });
});
