/**
 * Maps back to pictures: PNG encoding, viridis heatmaps (scoring's colormap), overlays on the
 * input and side-by-side panels. Pure pixel work except encodePng/writePng.
 */
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import {
  centerCropBox,
  colorizeMap,
  modelValueToPixel,
  overlayHeatmap,
  overlayMapRgb,
  resamplePlane,
  type ColorRange,
  type PreprocessingSpec,
  type RawImage,
  sourceRgbChannel,
} from '@residuum/scoring';

/** A single-channel float map, row-major height x width (e.g. an anomaly map). */
export interface MapImage {
  data: Float32Array;
  width: number;
  height: number;
}

function assertRaw(image: RawImage, name: string): void {
  const ok =
    image !== null &&
    typeof image === 'object' &&
    (image.data instanceof Uint8Array || image.data instanceof Uint8ClampedArray) &&
    Number.isInteger(image.width) &&
    Number.isInteger(image.height) &&
    image.width > 0 &&
    image.height > 0 &&
    [1, 2, 3, 4].includes(image.channels) &&
    image.data.length === image.width * image.height * image.channels;
  if (!ok) {
    throw new RangeError(`${name} must be a RawImage whose data holds width x height x channels (1-4) bytes`);
  }
}

function assertMap(map: MapImage, name: string): void {
  if (!(map?.data instanceof Float32Array) || !Number.isInteger(map.width) || !Number.isInteger(map.height) || map.width <= 0 || map.height <= 0) {
    throw new RangeError(`${name} must be { data: Float32Array, width, height } with positive integer sizes`);
  }
  if (map.data.length !== map.width * map.height) {
    throw new RangeError(`${name} has ${map.data.length} values but ${map.width}x${map.height} needs ${map.width * map.height}`);
  }
}

/** Interleaved RGBA copy of any 1-4 channel image (grey replicated, missing alpha = 255). */
function toRgba(image: RawImage): Uint8ClampedArray {
  const n = image.width * image.height;
  const c = image.channels;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    const grey = c <= 2;
    out[i * 4] = image.data[i * c];
    out[i * 4 + 1] = image.data[i * c + (grey ? 0 : 1)];
    out[i * 4 + 2] = image.data[i * c + (grey ? 0 : 2)];
    out[i * 4 + 3] = c === 2 || c === 4 ? image.data[i * c + c - 1] : 255;
  }
  return out;
}

function rgbaToRgb(rgba: Uint8ClampedArray, width: number, height: number): RawImage {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    out[i * 3] = rgba[i * 4];
    out[i * 3 + 1] = rgba[i * 4 + 1];
    out[i * 3 + 2] = rgba[i * 4 + 2];
  }
  return { data: out, width, height, channels: 3 };
}

export interface PngOptions {
  /**
   * zlib level 0-9 (default 6, sharp's). Lower is faster and larger, the pixels are the same:
   * a 224 x 224 RGB heatmap overlay took 6.8 ms of CPU at 6 and 2.5 ms at 1, for 85 vs 105 KB.
   */
  compressionLevel?: number;
}

/** Lossless PNG of a 1-4 channel 8-bit image. */
export async function encodePng(image: RawImage, options: PngOptions = {}): Promise<Buffer> {
  assertRaw(image, 'encodePng: image');
  const level = options.compressionLevel ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`encodePng: compressionLevel must be an integer 0-9, got ${String(level)}`);
  const { width, height, channels } = image;
  const pipeline = sharp(image.data, { raw: { width, height, channels } });
  // Without this, sharp stores 1- and 2-channel input as RGB(A).
  if (channels <= 2) pipeline.toColourspace('b-w');
  return pipeline.png({ compressionLevel: level }).toBuffer();
}

/** Writes `image` as a PNG file; errors name the path. */
export async function writePng(path: string, image: RawImage): Promise<void> {
  const png = await encodePng(image);
  try {
    await writeFile(path, png);
  } catch (error) {
    throw new Error(`cannot write PNG ${path}: ${(error as Error).message}`);
  }
}

/**
 * A model-space CHW tensor (input or reconstruction) back to 8-bit pixels:
 * pixel = clamp(round((value * std[c] + mean[c]) * pixelDivisor)), channels back in RGB order.
 */
export function modelTensorToImage(
  chw: Float32Array,
  spec: Pick<PreprocessingSpec, 'width' | 'height' | 'channels' | 'mean' | 'std' | 'channelOrder' | 'pixelDivisor'>,
): RawImage {
  const { width, height, channels } = spec;
  const plane = width * height;
  if (!(chw instanceof Float32Array) || chw.length !== channels * plane) {
    throw new RangeError(`modelTensorToImage: tensor must be a Float32Array of ${channels}x${height}x${width} values, got ${chw?.length}`);
  }
  const out = new Uint8ClampedArray(channels * plane);
  for (let c = 0; c < channels; c++) {
    const target = sourceRgbChannel(spec, c);
    for (let i = 0; i < plane; i++) out[i * channels + target] = Math.round(modelValueToPixel(spec, c, chw[c * plane + i]));
  }
  return { data: out, width, height, channels };
}

function mapRange(map: MapImage, range: ColorRange | undefined): ColorRange {
  if (range !== undefined) return range;
  let min = Infinity;
  let max = -Infinity;
  for (const v of map.data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return Number.isFinite(min) ? { min, max } : { min: 0, max: 0 };
}

export interface HeatmapOptions {
  /** Map values shown from the first to the last viridis colour; default the map's own min..max. */
  range?: ColorRange;
}

/** The map through the viridis colormap, as RGB. */
export function renderHeatmap(map: MapImage, options: HeatmapOptions = {}): RawImage {
  assertMap(map, 'renderHeatmap: map');
  return rgbaToRgb(colorizeMap(map.data, map.width, map.height, mapRange(map, options.range)), map.width, map.height);
}

export interface OverlayOptions extends HeatmapOptions {
  /** Heatmap opacity, 0..1 (default 0.5). */
  alpha?: number;
  /**
   * How the model input was taken from `base` ('fill' default, or 'center-crop'): the map is
   * stretched over the whole image, or over the centre crop only (the border stays unmarked).
   */
  resize?: PreprocessingSpec['resize'];
}

/**
 * The heatmap blended over `base` at the base's size (RGB out). The map is resized bilinearly
 * to the region of `base` the model saw.
 */
export function renderHeatmapOverlay(base: RawImage, map: MapImage, options: OverlayOptions = {}): RawImage {
  assertRaw(base, 'renderHeatmapOverlay: base');
  assertMap(map, 'renderHeatmapOverlay: map');
  const { width, height } = base;
  const full = new Float32Array(width * height).fill(Number.NaN);
  let region = { x: 0, y: 0, width, height };
  if (options.resize === 'center-crop') {
    const box = centerCropBox(width, height, map.width, map.height);
    const x = Math.round(box.x);
    const y = Math.round(box.y);
    region = { x, y, width: Math.min(width - x, Math.round(box.width)), height: Math.min(height - y, Math.round(box.height)) };
  }
  // A map already at the region's size (a model's input-sized map over its input) needs no
  // resampling: bilinear at scale 1 gives the same values and cost 2 ms on a 224 x 224 map.
  const sameSize = map.width === region.width && map.height === region.height;
  if (sameSize && region.width === width && region.height === height) {
    // the common case (the map covers the whole base at its size): one pass, no RGBA intermediates
    const data = overlayMapRgb(base, map.data, mapRange(map, options.range), options.alpha ?? 0.5);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height, channels: 3 };
  }
  const resized = sameSize ? map.data : resamplePlane(map.data, map.width, map.height, region.width, region.height, 'bilinear');
  for (let row = 0; row < region.height; row++) {
    full.set(resized.subarray(row * region.width, (row + 1) * region.width), (region.y + row) * width + region.x);
  }
  const heat = colorizeMap(full, width, height, mapRange(map, options.range));
  return rgbaToRgb(overlayHeatmap(toRgba(base), heat, options.alpha ?? 0.5), width, height);
}

/**
 * Panels (e.g. input, reconstruction, heatmap) placed left to right, top-aligned, `gap` pixels
 * apart on a black background; RGB out. Panels are not rescaled.
 */
export function sideBySide(panels: readonly RawImage[], gap = 4): RawImage {
  if (!Array.isArray(panels) || panels.length === 0) throw new RangeError('sideBySide: give at least one panel');
  if (!Number.isInteger(gap) || gap < 0) throw new RangeError(`sideBySide: gap must be a non-negative integer, got ${gap}`);
  panels.forEach((p, i) => assertRaw(p, `sideBySide: panel ${i}`));
  const width = panels.reduce((sum, p) => sum + p.width, 0) + gap * (panels.length - 1);
  const height = Math.max(...panels.map((p) => p.height));
  const out = new Uint8Array(width * height * 3);
  let left = 0;
  for (const panel of panels) {
    const rgba = toRgba(panel);
    for (let y = 0; y < panel.height; y++) {
      for (let x = 0; x < panel.width; x++) {
        const src = (y * panel.width + x) * 4;
        const dst = (y * width + left + x) * 3;
        out[dst] = rgba[src];
        out[dst + 1] = rgba[src + 1];
        out[dst + 2] = rgba[src + 2];
      }
    }
    left += panel.width + gap;
  }
  return { data: out, width, height, channels: 3 };
}
