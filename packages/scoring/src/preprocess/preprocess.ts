import { CHANNEL_ORDERS, PIXEL_DIVISORS, type PreprocessingSpec, sourceRgbChannel } from '../card/model-card.js';
import { assertPositiveInteger, assertRawImage, type RawImage } from './raw-image.js';
import { cachedAxisWeights, type SourceBox } from './resample.js';

function assertPreprocessingSpec(spec: PreprocessingSpec): void {
  if (spec === null || typeof spec !== 'object') throw new TypeError('preprocessing spec must be an object');
  assertPositiveInteger(spec.width, 'preprocessing.width');
  assertPositiveInteger(spec.height, 'preprocessing.height');
  if (spec.channels !== 1 && spec.channels !== 3) {
    throw new RangeError(`preprocessing.channels must be 1 or 3, got ${String(spec.channels)}`);
  }
  if (spec.resize !== 'fill' && spec.resize !== 'center-crop') {
    throw new RangeError(`preprocessing.resize must be 'fill' or 'center-crop', got ${String(spec.resize)}`);
  }
  if (spec.interpolation !== 'bilinear' && spec.interpolation !== 'nearest') {
    throw new RangeError(`preprocessing.interpolation must be 'bilinear' or 'nearest', got ${String(spec.interpolation)}`);
  }
  for (const key of ['mean', 'std'] as const) {
    const values = spec[key];
    if (!Array.isArray(values) || values.length !== spec.channels || !values.every((v) => Number.isFinite(v))) {
      throw new RangeError(`preprocessing.${key} must be ${spec.channels} finite number(s), got ${JSON.stringify(values)}`);
    }
  }
  if (spec.std.some((s) => s === 0)) throw new RangeError('preprocessing.std must not contain 0');
  if (spec.channelOrder !== undefined && !CHANNEL_ORDERS.includes(spec.channelOrder)) {
    throw new RangeError(`preprocessing.channelOrder must be 'rgb' or 'bgr', got ${JSON.stringify(spec.channelOrder)}`);
  }
  if (spec.channelOrder === 'bgr' && spec.channels !== 3) throw new RangeError(`preprocessing.channelOrder 'bgr' needs channels 3, got ${spec.channels}`);
  if (spec.pixelDivisor !== undefined && !PIXEL_DIVISORS.includes(spec.pixelDivisor)) {
    throw new RangeError(`preprocessing.pixelDivisor must be 1 or 255, got ${JSON.stringify(spec.pixelDivisor)}`);
  }
}

/** The source window for 'center-crop': the largest centred box with the target aspect ratio. */
export function centerCropBox(srcWidth: number, srcHeight: number, dstWidth: number, dstHeight: number): SourceBox {
  const scale = Math.max(dstWidth / srcWidth, dstHeight / srcHeight);
  const width = Math.min(srcWidth, dstWidth / scale);
  const height = Math.min(srcHeight, dstHeight / scale);
  return { x: (srcWidth - width) / 2, y: (srcHeight - height) / 2, width, height };
}

// Scratch reused between images (single-threaded JS: calls cannot interleave).
// The converted row holds float32 values (as the float32 plane would) in a Float64Array: V8 reads
// doubles faster than it widens floats in the tap loop.
let rowScratch = new Float64Array(0);
let tempScratch = new Float64Array(0);

/** BT.601 luma of one RGB row, rounded to float32 (a fixed stride V8 compiles tighter). */
function lumaRow3(row: Float64Array, d: Uint8Array | Uint8ClampedArray, pixel: number, width: number): void {
  for (let x = 0, i = pixel; x < width; x++, i += 3) row[x] = Math.fround(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
}

/**
 * One row of the horizontal pass. The usual tap counts of a 1-3x downscale are written out
 * (left to right, the same sums as the loop) because V8 does not unroll the variable-length loop.
 */
function horizontalRow(
  temp: Float64Array,
  tempRow: number,
  row: Float64Array,
  dstWidth: number,
  starts: Int32Array,
  counts: Int32Array,
  weights: Float64Array,
  maxCount: number,
): void {
  for (let x = 0; x < dstWidth; x++) {
    const s = starts[x];
    const o = x * maxCount;
    let acc: number;
    switch (counts[x]) {
      case 2:
        acc = weights[o] * row[s] + weights[o + 1] * row[s + 1];
        break;
      case 3:
        acc = weights[o] * row[s] + weights[o + 1] * row[s + 1] + weights[o + 2] * row[s + 2];
        break;
      case 4:
        acc = weights[o] * row[s] + weights[o + 1] * row[s + 1] + weights[o + 2] * row[s + 2] + weights[o + 3] * row[s + 3];
        break;
      case 5:
        acc = weights[o] * row[s] + weights[o + 1] * row[s + 1] + weights[o + 2] * row[s + 2] + weights[o + 3] * row[s + 3] + weights[o + 4] * row[s + 4];
        break;
      case 6:
        acc =
          weights[o] * row[s] + weights[o + 1] * row[s + 1] + weights[o + 2] * row[s + 2] + weights[o + 3] * row[s + 3] + weights[o + 4] * row[s + 4] + weights[o + 5] * row[s + 5];
        break;
      default: {
        acc = 0;
        const count = counts[x];
        for (let j = 0; j < count; j++) acc += weights[o + j] * row[s + j];
      }
    }
    temp[tempRow + x] = acc;
  }
}

/**
 * The model input for one decoded image: CHW float32 of spec.channels x spec.height x spec.width,
 * value = (pixel/pixelDivisor - mean[c]) / std[c], channels in the card's channelOrder. Grey = BT.601 luma (0.299R + 0.587G + 0.114B), alpha ignored;
 * a grey source feeding an RGB model is replicated to the three channels.
 *
 * The resize is `resamplePlane`'s separable filter with the same weights and the same summation
 * order, fused with the channel conversion (one Float32 row at a time, as the float32 plane held
 * it) and the normalization (after rounding the resized value to float32, as the plane held it):
 * the same numbers as converting, resampling and normalizing one after the other, without the
 * full-size intermediate planes.
 */
export function preprocessImage(raw: RawImage, spec: PreprocessingSpec): Float32Array {
  assertRawImage(raw);
  assertPreprocessingSpec(spec);
  const srcWidth = raw.width;
  const srcHeight = raw.height;
  const dstWidth = spec.width;
  const dstHeight = spec.height;
  const box = spec.resize === 'center-crop' ? centerCropBox(srcWidth, srcHeight, dstWidth, dstHeight) : { x: 0, y: 0, width: srcWidth, height: srcHeight };
  const hx = cachedAxisWeights(srcWidth, dstWidth, box.x, box.width, spec.interpolation);
  const hy = cachedAxisWeights(srcHeight, dstHeight, box.y, box.height, spec.interpolation);
  // Source rows the vertical pass reads (a centre crop skips the others).
  let firstRow = srcHeight;
  let endRow = 0;
  for (let y = 0; y < dstHeight; y++) {
    firstRow = Math.min(firstRow, hy.starts[y]);
    endRow = Math.max(endRow, hy.starts[y] + hy.counts[y]);
  }
  if (rowScratch.length < srcWidth) rowScratch = new Float64Array(srcWidth);
  if (tempScratch.length < srcHeight * dstWidth) tempScratch = new Float64Array(srcHeight * dstWidth);
  const row = rowScratch;
  const temp = tempScratch;
  const d = raw.data;
  const c = raw.channels;
  const colour = c >= 3;
  const xStarts = hx.starts;
  const xCounts = hx.counts;
  const xWeights = hx.weights;
  const xMax = hx.maxCount;
  const planeSize = dstWidth * dstHeight;
  const out = new Float32Array(spec.channels * planeSize);
  for (let channel = 0; channel < spec.channels; channel++) {
    // Horizontal pass, one converted source row at a time.
    for (let y = firstRow; y < endRow; y++) {
      const pixel = y * srcWidth * c;
      if (spec.channels === 1 && colour) {
        if (c === 3) lumaRow3(row, d, pixel, srcWidth);
        else for (let x = 0, i = pixel; x < srcWidth; x++, i += c) row[x] = Math.fround(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
      } else {
        const k = colour ? sourceRgbChannel(spec, channel) : 0;
        for (let x = 0, i = pixel + k; x < srcWidth; x++, i += c) row[x] = d[i];
      }
      horizontalRow(temp, y * dstWidth, row, dstWidth, xStarts, xCounts, xWeights, xMax);
    }
    // Vertical pass, rounded to float32 like the resampled plane, then normalized.
    const mean = spec.mean[channel];
    const std = spec.std[channel];
    const divisor = spec.pixelDivisor ?? 255;
    const offset = channel * planeSize;
    const yWeights = hy.weights;
    for (let y = 0; y < dstHeight; y++) {
      const start = hy.starts[y];
      const count = hy.counts[y];
      const wOffset = y * hy.maxCount;
      const dst = offset + y * dstWidth;
      for (let x = 0; x < dstWidth; x++) {
        let acc = 0;
        for (let j = 0, t = start * dstWidth + x; j < count; j++, t += dstWidth) acc += yWeights[wOffset + j] * temp[t];
        out[dst + x] = (Math.fround(acc) / divisor - mean) / std;
      }
    }
  }
  return out;
}
