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
  const { min, max } = range ?? ({} as ColorRange);
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) {
    throw new RangeError(`colorizeMap: range must have finite min <= max, got min=${String(min)} max=${String(max)}`);
  }
  const out = new Uint8ClampedArray(width * height * 4);
  const span = max - min;
  for (let i = 0; i < map.length; i++) {
    const v = map[i];
    if (Number.isNaN(v)) continue;
    let t = span > 0 ? (v - min) / span : v > min ? 1 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const k = Math.round(t * 255) * 3;
    out[i * 4] = VIRIDIS_RGB[k];
    out[i * 4 + 1] = VIRIDIS_RGB[k + 1];
    out[i * 4 + 2] = VIRIDIS_RGB[k + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
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
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`overlayHeatmap: alpha must be in [0, 1], got ${alpha}`);
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
