import type { PreprocessingSpec } from '../card/model-card.js';
import { assertPositiveInteger, assertRawImage, type RawImage } from './raw-image.js';
import { resamplePlane, type SourceBox } from './resample.js';

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
}

/** Model-channel planes (0..255 floats) from the interleaved image: luma for grey models, RGB otherwise. */
function toPlanes(raw: RawImage, channels: 1 | 3): Float32Array[] {
  const n = raw.width * raw.height;
  const c = raw.channels;
  const d = raw.data;
  const colour = c >= 3;
  if (channels === 1) {
    const grey = new Float32Array(n);
    if (colour) {
      for (let i = 0; i < n; i++) grey[i] = 0.299 * d[i * c] + 0.587 * d[i * c + 1] + 0.114 * d[i * c + 2];
    } else {
      for (let i = 0; i < n; i++) grey[i] = d[i * c];
    }
    return [grey];
  }
  const planes = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) planes[k][i] = colour ? d[i * c + k] : d[i * c];
  }
  return planes;
}

/** The source window for 'center-crop': the largest centred box with the target aspect ratio. */
export function centerCropBox(srcWidth: number, srcHeight: number, dstWidth: number, dstHeight: number): SourceBox {
  const scale = Math.max(dstWidth / srcWidth, dstHeight / srcHeight);
  const width = Math.min(srcWidth, dstWidth / scale);
  const height = Math.min(srcHeight, dstHeight / scale);
  return { x: (srcWidth - width) / 2, y: (srcHeight - height) / 2, width, height };
}

/**
 * The model input for one decoded image: CHW float32 of spec.channels x spec.height x spec.width,
 * value = (pixel/255 - mean[c]) / std[c]. Grey = BT.601 luma (0.299R + 0.587G + 0.114B), alpha ignored;
 * a grey source feeding an RGB model is replicated to the three channels.
 */
export function preprocessImage(raw: RawImage, spec: PreprocessingSpec): Float32Array {
  assertRawImage(raw);
  assertPreprocessingSpec(spec);
  const planes = toPlanes(raw, spec.channels);
  const box = spec.resize === 'center-crop' ? centerCropBox(raw.width, raw.height, spec.width, spec.height) : undefined;
  const planeSize = spec.width * spec.height;
  const out = new Float32Array(spec.channels * planeSize);
  for (let c = 0; c < spec.channels; c++) {
    const resized = resamplePlane(planes[c], raw.width, raw.height, spec.width, spec.height, spec.interpolation, box);
    const mean = spec.mean[c];
    const std = spec.std[c];
    const offset = c * planeSize;
    for (let i = 0; i < planeSize; i++) out[offset + i] = (resized[i] / 255 - mean) / std;
  }
  return out;
}
