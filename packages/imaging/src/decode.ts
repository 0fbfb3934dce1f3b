/**
 * Node image decoding. sharp only decodes, at native size, to an interleaved 8-bit RawImage;
 * every resize and normalisation is @residuum/scoring's `preprocessImage`, the same code the
 * browser runs, so both produce identical model inputs.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import {
  binarizeMask,
  centerCropBox,
  preprocessImage,
  resamplePlane,
  type PreprocessingSpec,
  type RawImage,
} from '@residuum/scoring';
import { decodeBmp } from './bmp.js';
import { ImageDecodeError } from './errors.js';
import { FORMAT_NAMES, SUPPORTED_FORMATS, greyFromHeader, looksTruncated, sniffFormat } from './format.js';
import { maxImagePixels, overPixelLimitReason } from './pixel-limit.js';

export type ImageInput = string | Uint8Array;

export interface DecodeOptions {
  /** Name used in errors when the input is a buffer (default: 'buffer'); paths name themselves. */
  source?: string;
  /** Largest image decoded, in pixels (default: maxImagePixels(), i.e. RESIDUUM_MAX_IMAGE_PIXELS or MAX_IMAGE_PIXELS). */
  maxPixels?: number;
}

export type TensorLayout = 'NCHW' | 'NHWC';

export interface ModelInput {
  /** Preprocessed image: CHW (default) or HWC float32, spec.channels x spec.height x spec.width values. */
  tensor: Float32Array;
  /** The decoded image at native size (for overlays and reports). */
  raw: RawImage;
}

const TRUNCATION_MESSAGE = /premature end|truncat|unexpected end|end of (file|stream|data)|read error|not enough/i;

function describeSource(input: ImageInput, options: DecodeOptions): string {
  return typeof input === 'string' ? input : (options.source ?? 'buffer');
}

async function readBytes(input: ImageInput, source: string): Promise<Uint8Array> {
  if (typeof input !== 'string') {
    if (!(input instanceof Uint8Array)) {
      throw new TypeError(`decodeImage: input must be a file path or a Uint8Array/Buffer, got ${typeof input}`);
    }
    return input;
  }
  try {
    return await readFile(input);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, not an image file' : `cannot read file (${(error as Error).message})`;
    throw new ImageDecodeError(source, 'unreadable', reason);
  }
}

/**
 * Decodes PNG, JPEG, BMP, TIFF or WebP (recognised by content, not extension) to 8-bit
 * interleaved pixels at native size: 1 channel for grey sources (grey, grey + alpha, 16-bit grey),
 * 3 (sRGB) otherwise; BMP is always RGB. EXIF orientation is applied (as browsers do).
 * Alpha is dropped and the stored colour kept, as `preprocessImage` ignores alpha.
 * Truncated or corrupt data is an error (sharp `failOn: 'warning'`), never a partly grey image.
 */
export async function decodeImage(input: ImageInput, options: DecodeOptions = {}): Promise<RawImage> {
  const source = describeSource(input, options);
  const bytes = await readBytes(input, source);
  if (bytes.length === 0) throw new ImageDecodeError(source, 'empty', 'file is empty (0 bytes)');
  const format = sniffFormat(bytes);
  if (format === undefined) {
    throw new ImageDecodeError(source, 'not-an-image', 'not an image (content is not PNG, JPEG, BMP, TIFF or WebP)');
  }
  if (!SUPPORTED_FORMATS.has(format)) {
    throw new ImageDecodeError(source, 'unsupported-format', `unsupported image format ${FORMAT_NAMES[format]} (supported: PNG, JPEG, BMP, TIFF, WebP)`);
  }
  const limit = options.maxPixels ?? maxImagePixels();
  if (format === 'bmp') return decodeBmp(bytes, source, limit);
  try {
    const image = sharp(bytes, { failOn: 'warning', limitInputPixels: limit });
    // The header says grey or colour for the common cases; otherwise ask sharp (one more pass
    // through libuv's pool and libvips, ~15% of a 300x300 JPEG decode).
    let grey = greyFromHeader(bytes, format);
    if (grey === undefined) {
      const meta = await image.metadata();
      grey = meta.space === 'b-w' || meta.space === 'grey16' || (meta.channels ?? 3) <= 2;
    }
    const { data, info } = await image
      .autoOrient()
      .removeAlpha()
      .toColourspace(grey ? 'b-w' : 'srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const channels = info.channels;
    if (channels !== 1 && channels !== 3) {
      throw new Error(`decoder produced ${channels} channels`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels };
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    const message = (error as Error).message.split('\n')[0];
    if (/exceeds pixel limit/i.test(message)) {
      // The header alone gives the size (nothing is decoded without the limit).
      const { width = 0, height = 0 } = await sharp(bytes, { limitInputPixels: false }).metadata().catch(() => ({ width: 0, height: 0 }));
      throw new ImageDecodeError(source, 'too-large', overPixelLimitReason(width, height, limit));
    }
    const name = FORMAT_NAMES[format];
    // The file's own structure decides where it can be checked; libjpeg also says "premature end"
    // for corrupt scan data in a complete file.
    const truncated = format === 'tiff' ? TRUNCATION_MESSAGE.test(message) : looksTruncated(bytes, format);
    if (truncated) {
      throw new ImageDecodeError(source, 'truncated', `truncated ${name}: ${message}`);
    }
    throw new ImageDecodeError(source, 'corrupt', `corrupt ${name} (or truncated): ${message}`);
  }
}

/** HWC copy of a CHW tensor (TF.js layers models train on NHWC). */
export function chwToHwc(chw: Float32Array, channels: number, height: number, width: number): Float32Array {
  if (channels === 1) return chw;
  const plane = height * width;
  const hwc = new Float32Array(chw.length);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) hwc[i * channels + c] = chw[c * plane + i];
  }
  return hwc;
}

/** Decodes one image and preprocesses it per the model card's spec. */
export async function loadModelInput(
  input: ImageInput,
  spec: PreprocessingSpec,
  options: DecodeOptions & { layout?: TensorLayout } = {},
): Promise<ModelInput> {
  const raw = await decodeImage(input, options);
  const chw = preprocessImage(raw, spec);
  const tensor = options.layout === 'NHWC' ? chwToHwc(chw, spec.channels, spec.height, spec.width) : chw;
  return { tensor, raw };
}

export interface MaskOptions extends DecodeOptions {
  /** The model's resize mode, so the mask covers the same pixels as the input (default 'fill'). */
  resize?: PreprocessingSpec['resize'];
}

/**
 * A ground-truth mask as 0/1 labels at width x height: decoded (colour masks by luma), resized by
 * nearest neighbour with the model's geometry ('fill' or 'center-crop'), then value >= 128 -> 1.
 */
export async function loadMask(input: ImageInput, width: number, height: number, options: MaskOptions = {}): Promise<Uint8Array> {
  const source = describeSource(input, options);
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value <= 0) throw new RangeError(`loadMask(${source}): ${name} must be a positive integer, got ${value}`);
  }
  return maskFromImage(await decodeImage(input, options), width, height, options.resize);
}

/** The 0/1 mask at width x height from an already decoded mask image (see loadMask). */
export function maskFromImage(raw: RawImage, width: number, height: number, resize: PreprocessingSpec['resize'] = 'fill'): Uint8Array {
  const plane = new Float32Array(raw.width * raw.height);
  const c = raw.channels;
  for (let i = 0; i < plane.length; i++) {
    plane[i] = c <= 2 ? raw.data[i * c] : Math.round(0.299 * raw.data[i * c] + 0.587 * raw.data[i * c + 1] + 0.114 * raw.data[i * c + 2]);
  }
  const box = resize === 'center-crop' ? centerCropBox(raw.width, raw.height, width, height) : undefined;
  return binarizeMask(resamplePlane(plane, raw.width, raw.height, width, height, 'nearest', box));
}
