/**
 * BMP, which sharp (libvips) cannot read, through bmp-ts (the decoder Jimp uses). The header is
 * checked here first so that a truncated file is reported as such instead of decoding garbage.
 */
import { decode } from 'bmp-ts';
import type { RawImage } from '@residuum/scoring';
import { ImageDecodeError } from './errors.js';
import { MAX_IMAGE_PIXELS, overPixelLimitReason } from './pixel-limit.js';

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

function checkBmpHeader(bytes: Uint8Array, source: string, maxPixels: number): void {
  if (bytes.length < 30) {
    throw new ImageDecodeError(source, 'truncated', `truncated BMP: ${bytes.length} bytes is shorter than its header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pixelOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  if (headerSize < 40) {
    throw new ImageDecodeError(source, 'unsupported-format', `unsupported BMP variant (OS/2 ${headerSize}-byte header)`);
  }
  if (bytes.length < 14 + headerSize) {
    throw new ImageDecodeError(source, 'truncated', `truncated BMP: ${bytes.length} bytes is shorter than its header`);
  }
  const width = view.getInt32(18, true);
  const height = Math.abs(view.getInt32(22, true));
  const bitsPerPixel = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  if (width <= 0 || height === 0) throw new ImageDecodeError(source, 'corrupt', `corrupt BMP: size ${width}x${height}`);
  if (width * height > maxPixels) throw new ImageDecodeError(source, 'too-large', overPixelLimitReason(width, height, maxPixels));
  if (![1, 4, 8, 16, 24, 32].includes(bitsPerPixel)) {
    throw new ImageDecodeError(source, 'unsupported-format', `unsupported BMP bit depth ${bitsPerPixel}`);
  }
  if (compression === BI_RGB || compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    const rowBytes = Math.floor((bitsPerPixel * width + 31) / 32) * 4;
    const needed = pixelOffset + rowBytes * height;
    if (bytes.length < needed) {
      throw new ImageDecodeError(source, 'truncated', `truncated BMP: ${bytes.length} bytes, the ${width}x${height} pixel data needs ${needed}`);
    }
  }
}

/** Decodes a BMP to 8-bit RGB (alpha, if any, dropped); BMP has no grey type, so always 3 channels. */
export function decodeBmp(bytes: Uint8Array, source: string, maxPixels: number = MAX_IMAGE_PIXELS): RawImage {
  checkBmpHeader(bytes, source, maxPixels);
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { toRGBA: true });
  } catch (error) {
    throw new ImageDecodeError(source, 'corrupt', `corrupt BMP: ${(error as Error).message}`);
  }
  const pixels = decoded.width * decoded.height;
  if (decoded.data.length < pixels * 4) {
    throw new ImageDecodeError(source, 'truncated', 'truncated BMP: pixel data ends early');
  }
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    rgb[i * 3] = decoded.data[i * 4];
    rgb[i * 3 + 1] = decoded.data[i * 4 + 1];
    rgb[i * 3 + 2] = decoded.data[i * 4 + 2];
  }
  return { data: rgb, width: decoded.width, height: decoded.height, channels: 3 };
}
