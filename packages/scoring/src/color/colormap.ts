import type { RawImage } from '../preprocess/raw-image.js';
import { VIRIDIS_RGB } from './viridis.js';

export interface ColorRange {
  min: number;
  max: number;
}

/**
 * RGBA image (row-major, 4 bytes per pixel) of a single-channel map through viridis.
 * value <= min -> first entry, value >= max -> last entry, linear in between (256 steps).
 * If max === min, values above it get the last entry and the rest the first.
 * NaN pixels become fully transparent (0,0,0,0) so an overlay shows the base image there.
 */
export function colorizeMap(map: Float32Array | Float64Array, width: number, height: number, range: ColorRange): Uint8ClampedArray {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`colorizeMap: width and height must be positive integers, got ${width}x${height}`);
  }
  if (map.length !== width * height) throw new RangeError(`colorizeMap: map has ${map.length} values but ${width}x${height} needs ${width * height}`);
  assertRange(range, 'colorizeMap');
  const out = new Uint8ClampedArray(width * height * 4);
  const { min } = range;
  const span = range.max - min;
  for (let i = 0; i < map.length; i++) {
    const v = map[i];
    if (Number.isNaN(v)) continue;
    const k = viridisOffset(v, min, span);
    out[i * 4] = VIRIDIS_RGB[k];
    out[i * 4 + 1] = VIRIDIS_RGB[k + 1];
    out[i * 4 + 2] = VIRIDIS_RGB[k + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
}

function assertRange(range: ColorRange, name: string): void {
  const { min, max } = range ?? ({} as ColorRange);
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) {
    throw new RangeError(`${name}: range must have finite min <= max, got min=${String(min)} max=${String(max)}`);
  }
}

function assertAlpha(alpha: number, name: string): void {
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`${name}: alpha must be in [0, 1], got ${alpha}`);
}

/** Offset into VIRIDIS_RGB of a (non-NaN) map value: the 256-step rule of colorizeMap. */
function viridisOffset(v: number, min: number, span: number): number {
  let t = span > 0 ? (v - min) / span : v > min ? 1 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  return Math.round(t * 255) * 3;
}

/**
 * Blends a heatmap over a base image, both RGBA of the same size: out = base * (1 - a) + heat * a with
 * a = alpha * heatAlpha / 255 per pixel (so transparent heat pixels leave the base untouched);
 * the output keeps the base's alpha.
 */
export function overlayHeatmap(
  baseRGBA: Uint8Array | Uint8ClampedArray,
  heatRGBA: Uint8Array | Uint8ClampedArray,
  alpha: number,
): Uint8ClampedArray {
  if (baseRGBA.length !== heatRGBA.length) {
    throw new RangeError(`overlayHeatmap: base has ${baseRGBA.length} bytes but heat has ${heatRGBA.length}; both must be RGBA of the same size`);
  }
  if (baseRGBA.length % 4 !== 0) throw new RangeError(`overlayHeatmap: RGBA length must be a multiple of 4, got ${baseRGBA.length}`);
  assertAlpha(alpha, 'overlayHeatmap');
  const out = new Uint8ClampedArray(baseRGBA.length);
  for (let i = 0; i < baseRGBA.length; i += 4) {
    const a = (alpha * heatRGBA[i + 3]) / 255;
    out[i] = baseRGBA[i] * (1 - a) + heatRGBA[i] * a;
    out[i + 1] = baseRGBA[i + 1] * (1 - a) + heatRGBA[i + 1] * a;
    out[i + 2] = baseRGBA[i + 2] * (1 - a) + heatRGBA[i + 2] * a;
    out[i + 3] = baseRGBA[i + 3];
  }
  return out;
}

/**
 * colorizeMap blended over `base` by overlayHeatmap, as RGB, in one pass: the same bytes as
 * composing the two (base to RGBA, grey repeated; output without alpha) for a map of the base's
 * size, without the three full-size RGBA intermediates. The line service renders one per result
 * (224 x 224: about 0.4 instead of 1.7 ms, and 0.8 MB less garbage per image).
 */
export function overlayMapRgb(base: RawImage, map: Float32Array | Float64Array, range: ColorRange, alpha: number): Uint8ClampedArray {
  const { width, height, channels: c } = base;
  const n = width * height;
  if (map.length !== n) throw new RangeError(`overlayMapRgb: map has ${map.length} values but the ${width}x${height} base needs ${n}`);
  if (base.data.length !== n * c) throw new RangeError(`overlayMapRgb: base has ${base.data.length} bytes but ${width}x${height}x${c} needs ${n * c}`);
  assertRange(range, 'overlayMapRgb');
  assertAlpha(alpha, 'overlayMapRgb');
  const { min } = range;
  const span = range.max - min;
  // overlayHeatmap's weight of an opaque heat pixel (a NaN pixel is transparent: weight 0, base kept)
  const a = (alpha * 255) / 255;
  const data = base.data;
  const grey = c <= 2;
  const out = new Uint8ClampedArray(n * 3);
  for (let i = 0; i < n; i++) {
    const r = data[i * c];
    const g = grey ? r : data[i * c + 1];
    const b = grey ? r : data[i * c + 2];
    const v = map[i];
    if (Number.isNaN(v)) {
      out[i * 3] = r;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = b;
      continue;
    }
    const k = viridisOffset(v, min, span);
    out[i * 3] = r * (1 - a) + VIRIDIS_RGB[k] * a;
    out[i * 3 + 1] = g * (1 - a) + VIRIDIS_RGB[k + 1] * a;
    out[i * 3 + 2] = b * (1 - a) + VIRIDIS_RGB[k + 2] * a;
  }
  return out;
}
