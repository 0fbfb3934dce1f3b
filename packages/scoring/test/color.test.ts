import { describe, expect, it } from 'vitest';
import { VIRIDIS_RGB, colorizeMap, createSeededRandom, overlayHeatmap, overlayMapRgb, type RawImage } from '../src/index.js';

describe('colour', () => {
  it('has matplotlib viridis endpoints and increasing luminance', () => {
    expect(Array.from(VIRIDIS_RGB.slice(0, 3))).toEqual([0x44, 0x01, 0x54]);
    expect(Array.from(VIRIDIS_RGB.slice(765))).toEqual([0xfd, 0xe7, 0x25]);
    const luma = (k: number) => 0.299 * VIRIDIS_RGB[k * 3] + 0.587 * VIRIDIS_RGB[k * 3 + 1] + 0.114 * VIRIDIS_RGB[k * 3 + 2];
    for (let k = 8; k < 256; k += 8) expect(luma(k)).toBeGreaterThan(luma(k - 8));
  });

  it('maps min/max to the ends, clamps outside, and NaN to transparent', () => {
    const rgba = colorizeMap(new Float32Array([0, 1, -5, 9, Number.NaN, 0.5]), 3, 2, { min: 0, max: 1 });
    expect(Array.from(rgba.slice(0, 4))).toEqual([0x44, 0x01, 0x54, 255]);
    expect(Array.from(rgba.slice(4, 8))).toEqual([0xfd, 0xe7, 0x25, 255]);
    expect(Array.from(rgba.slice(8, 12))).toEqual(Array.from(rgba.slice(0, 4)));
    expect(Array.from(rgba.slice(12, 16))).toEqual(Array.from(rgba.slice(4, 8)));
    expect(Array.from(rgba.slice(16, 20))).toEqual([0, 0, 0, 0]);
    expect(Array.from(rgba.slice(20, 23))).toEqual(Array.from(VIRIDIS_RGB.slice(128 * 3, 128 * 3 + 3)));
    expect(() => colorizeMap(new Float32Array(2), 3, 1, { min: 0, max: 1 })).toThrow(/needs 3/);
    expect(() => colorizeMap(new Float32Array(1), 1, 1, { min: 1, max: 0 })).toThrow(/min <= max/);
  });

  it('blends with alpha and respects transparent heat pixels', () => {
    const base = new Uint8ClampedArray([100, 100, 100, 255, 10, 20, 30, 255]);
    const heat = new Uint8ClampedArray([200, 0, 100, 255, 255, 255, 255, 0]);
    expect(Array.from(overlayHeatmap(base, heat, 0.5))).toEqual([150, 50, 100, 255, 10, 20, 30, 255]);
    expect(Array.from(overlayHeatmap(base, heat, 0))).toEqual(Array.from(base));
    expect(() => overlayHeatmap(base, heat.slice(0, 4), 0.5)).toThrow(/same size/);
    expect(() => overlayHeatmap(base, heat, 2)).toThrow(/alpha must be in \[0, 1\]/);
  });

  it('overlayMapRgb gives the bytes of colorizeMap + overlayHeatmap (grey, grey+alpha, RGB, RGBA bases; NaN and out-of-range values)', () => {
    const random = createSeededRandom(16);
    const width = 37;
    const height = 23;
    const n = width * height;
    const map = new Float32Array(n).map(() => (random() < 0.05 ? Number.NaN : random() * 3 - 0.5));
    for (const channels of [1, 2, 3, 4] as const) {
      const base: RawImage = { data: new Uint8Array(n * channels).map(() => Math.floor(random() * 256)), width, height, channels };
      const rgba = new Uint8ClampedArray(n * 4);
      for (let i = 0; i < n; i++) {
        const grey = channels <= 2;
        rgba[i * 4] = base.data[i * channels];
        rgba[i * 4 + 1] = base.data[i * channels + (grey ? 0 : 1)];
        rgba[i * 4 + 2] = base.data[i * channels + (grey ? 0 : 2)];
        rgba[i * 4 + 3] = 255;
      }
      for (const [range, alpha] of [[{ min: 0, max: 2 }, 0.6], [{ min: 0.3, max: 0.3 }, 0.5], [{ min: -1, max: 4 }, 1], [{ min: 0, max: 1 }, 0]] as const) {
        const composed = overlayHeatmap(rgba, colorizeMap(map, width, height, range), alpha);
        const expected = new Uint8Array(n * 3);
        for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) expected[i * 3 + k] = composed[i * 4 + k];
        expect(Buffer.from(overlayMapRgb(base, map, range, alpha)).equals(Buffer.from(expected))).toBe(true);
      }
    }
    const base: RawImage = { data: new Uint8Array(n), width, height, channels: 1 };
    expect(() => overlayMapRgb(base, map.subarray(1), { min: 0, max: 1 }, 0.5)).toThrow(/needs/);
    expect(() => overlayMapRgb(base, map, { min: 1, max: 0 }, 0.5)).toThrow(/min <= max/);
    expect(() => overlayMapRgb(base, map, { min: 0, max: 1 }, 1.5)).toThrow(/alpha must be in \[0, 1\]/);
  });
});
