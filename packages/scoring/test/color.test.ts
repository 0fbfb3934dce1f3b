import { describe, expect, it } from 'vitest';
import { VIRIDIS_RGB, colorizeMap, overlayHeatmap } from '../src/index.js';

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
});
