/**
 * Image dimensions from the header, before anything is decoded: a small file can declare a huge
 * picture (a decompression bomb), and decoding it would take the line PC's memory.
 */
import sharp from 'sharp';

export interface Dimensions {
  width: number;
  height: number;
}

/** The declared width and height, or null when the header cannot be read (the decoder reports why). */
export async function readDimensions(bytes: Uint8Array): Promise<Dimensions | null> {
  if (bytes.length >= 26 && bytes[0] === 0x42 && bytes[1] === 0x4d) {
    // BMP (decoded by our own reader, not sharp): BITMAPINFOHEADER width/height at 18/22.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
  }
  try {
    // limitInputPixels: false so that the header of an oversized image is still read here.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    return meta.width && meta.height ? { width: meta.width, height: meta.height } : null;
  } catch {
    return null;
  }
}

/** The reason an image is refused for its size, or null when it is within the limit. */
export async function pixelLimitProblem(bytes: Uint8Array, maxPixels: number): Promise<string | null> {
  const size = await readDimensions(bytes);
  if (!size) return null;
  const pixels = size.width * size.height;
  if (pixels <= maxPixels) return null;
  return `too many pixels: the image declares ${size.width}x${size.height} = ${(pixels / 1e6).toFixed(1)} megapixels, over the limit of ${(maxPixels / 1e6).toFixed(1)} (--max-pixels)`;
}
