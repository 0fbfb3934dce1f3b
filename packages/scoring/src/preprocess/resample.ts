/**
 * Separable resampler shared by every runtime, so Node and browsers produce the same tensor.
 * 'bilinear' follows PIL's BILINEAR: triangle filter, half-pixel centres, support widened by
 * the scale factor when downscaling (antialiasing), weights renormalised at the borders.
 */
import { assertPositiveInteger } from './raw-image.js';

export type ResampleFilter = 'bilinear' | 'nearest';

/** A window of the source plane, in (fractional) source pixels. */
export interface SourceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface AxisWeights {
  starts: Int32Array;
  counts: Int32Array;
  /** Row-major [outSize, maxCount]. */
  weights: Float64Array;
  maxCount: number;
}

function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

function axisWeights(inSize: number, outSize: number, boxStart: number, boxExtent: number, filter: ResampleFilter): AxisWeights {
  const scale = boxExtent / outSize;
  if (filter === 'nearest') {
    const starts = new Int32Array(outSize);
    for (let x = 0; x < outSize; x++) {
      const index = Math.floor(boxStart + (x + 0.5) * scale);
      starts[x] = Math.min(inSize - 1, Math.max(0, index));
    }
    return { starts, counts: new Int32Array(outSize).fill(1), weights: new Float64Array(outSize).fill(1), maxCount: 1 };
  }
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // triangle support is 1
  const maxCount = Math.ceil(support) * 2 + 1;
  const starts = new Int32Array(outSize);
  const counts = new Int32Array(outSize);
  const weights = new Float64Array(outSize * maxCount);
  for (let x = 0; x < outSize; x++) {
    const center = boxStart + (x + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    const count = Math.max(0, hi - lo);
    for (let j = 0; j < count; j++) {
      const w = triangle((lo + j - center + 0.5) / filterScale);
      weights[x * maxCount + j] = w;
      total += w;
    }
    if (total === 0) {
      // Box entirely outside the image (cannot happen for valid boxes): fall back to nearest edge.
      starts[x] = Math.min(inSize - 1, Math.max(0, Math.floor(center)));
      counts[x] = 1;
      weights[x * maxCount] = 1;
      continue;
    }
    for (let j = 0; j < count; j++) weights[x * maxCount + j] /= total;
    starts[x] = lo;
    counts[x] = count;
  }
  return { starts, counts, weights, maxCount };
}

const weightCache = new Map<string, AxisWeights>();

/**
 * The weights of one axis, cached: a line PC resizes every image of a camera from the same size
 * to the same model size, and building the tables costs about as much as applying them.
 */
export function cachedAxisWeights(inSize: number, outSize: number, boxStart: number, boxExtent: number, filter: ResampleFilter): AxisWeights {
  const key = `${inSize}/${outSize}/${boxStart}/${boxExtent}/${filter}`;
  let weights = weightCache.get(key);
  if (!weights) {
    weights = axisWeights(inSize, outSize, boxStart, boxExtent, filter);
    if (weightCache.size >= 32) weightCache.clear();
    weightCache.set(key, weights);
  }
  return weights;
}

/**
 * Resamples one single-channel float plane (row-major srcHeight x srcWidth) to dstWidth x dstHeight.
 * `box` selects the source window (default: the whole plane), used for centre crops.
 */
export function resamplePlane(
  src: ArrayLike<number>,
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
  filter: ResampleFilter,
  box?: SourceBox,
): Float32Array {
  assertPositiveInteger(srcWidth, 'srcWidth');
  assertPositiveInteger(srcHeight, 'srcHeight');
  assertPositiveInteger(dstWidth, 'dstWidth');
  assertPositiveInteger(dstHeight, 'dstHeight');
  if (filter !== 'bilinear' && filter !== 'nearest') {
    throw new RangeError(`interpolation must be 'bilinear' or 'nearest', got ${String(filter)}`);
  }
  if (src.length !== srcWidth * srcHeight) {
    throw new RangeError(`plane has ${src.length} values but ${srcWidth}x${srcHeight} needs ${srcWidth * srcHeight}`);
  }
  const region = box ?? { x: 0, y: 0, width: srcWidth, height: srcHeight };
  if (!(region.width > 0) || !(region.height > 0)) throw new RangeError('resample box must have a positive size');
  const hx = cachedAxisWeights(srcWidth, dstWidth, region.x, region.width, filter);
  const hy = cachedAxisWeights(srcHeight, dstHeight, region.y, region.height, filter);

  // Horizontal pass: srcHeight rows of dstWidth.
  const temp = new Float64Array(srcHeight * dstWidth);
  for (let y = 0; y < srcHeight; y++) {
    const rowOffset = y * srcWidth;
    for (let x = 0; x < dstWidth; x++) {
      const start = hx.starts[x];
      const count = hx.counts[x];
      const wOffset = x * hx.maxCount;
      let acc = 0;
      for (let j = 0; j < count; j++) acc += hx.weights[wOffset + j] * src[rowOffset + start + j];
      temp[y * dstWidth + x] = acc;
    }
  }
  // Vertical pass.
  const out = new Float32Array(dstWidth * dstHeight);
  for (let y = 0; y < dstHeight; y++) {
    const start = hy.starts[y];
    const count = hy.counts[y];
    const wOffset = y * hy.maxCount;
    for (let x = 0; x < dstWidth; x++) {
      let acc = 0;
      for (let j = 0; j < count; j++) acc += hy.weights[wOffset + j] * temp[(start + j) * dstWidth + x];
      out[y * dstWidth + x] = acc;
    }
  }
  return out;
}

/**
 * Resizes a single-channel map (e.g. an anomaly map) from srcWidth x srcHeight to width x height
 * with the bilinear filter (plain interpolation when upsampling, antialiased when downscaling).
 */
export function resizeMap(
  map: Float32Array,
  width: number,
  height: number,
  srcWidth: number,
  srcHeight: number,
): Float32Array {
  if (!(map instanceof Float32Array)) throw new TypeError('resizeMap: map must be a Float32Array');
  if (map.length !== srcWidth * srcHeight) {
    throw new RangeError(`resizeMap: map has ${map.length} values but srcWidth x srcHeight = ${srcWidth}x${srcHeight} needs ${srcWidth * srcHeight}`);
  }
  return resamplePlane(map, srcWidth, srcHeight, width, height, 'bilinear');
}

/**
 * Resizes a single-channel 8-bit mask from srcWidth x srcHeight to width x height by nearest
 * neighbour (values are copied, never blended). Combine with `binarizeMask` for 0/1 labels.
 */
export function resizeMaskNearest(
  mask: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  srcWidth: number,
  srcHeight: number,
): Uint8Array {
  if (!(mask instanceof Uint8Array) && !(mask instanceof Uint8ClampedArray)) {
    throw new TypeError('resizeMaskNearest: mask must be a Uint8Array or Uint8ClampedArray');
  }
  assertPositiveInteger(width, 'width');
  assertPositiveInteger(height, 'height');
  assertPositiveInteger(srcWidth, 'srcWidth');
  assertPositiveInteger(srcHeight, 'srcHeight');
  if (mask.length !== srcWidth * srcHeight) {
    throw new RangeError(`resizeMaskNearest: mask has ${mask.length} values but ${srcWidth}x${srcHeight} needs ${srcWidth * srcHeight}`);
  }
  const out = new Uint8Array(width * height);
  const xs = new Int32Array(width);
  for (let x = 0; x < width; x++) xs[x] = Math.min(srcWidth - 1, Math.floor(((x + 0.5) * srcWidth) / width));
  for (let y = 0; y < height; y++) {
    const sy = Math.min(srcHeight - 1, Math.floor(((y + 0.5) * srcHeight) / height));
    for (let x = 0; x < width; x++) out[y * width + x] = mask[sy * srcWidth + xs[x]];
  }
  return out;
}

/** 0/1 labels from an 8-bit mask: value >= threshold (default 128) -> 1. */
export function binarizeMask(mask: ArrayLike<number>, threshold = 128): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = mask[i] >= threshold ? 1 : 0;
  return out;
}
