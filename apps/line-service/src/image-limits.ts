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
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    // PNG: IHDR is the first chunk, width and height at 16 and 20.
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegDimensions(bytes, view);
  if (bytes.length >= 26 && bytes[0] === 0x42 && bytes[1] === 0x4d) {
    // BMP (decoded by our own reader, not sharp): BITMAPINFOHEADER width/height at 18/22.
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

/** JPEG: the frame header (SOF0..SOF15 except DHT, JPG and DAC markers), walking the segments. */
function jpegDimensions(bytes: Uint8Array, view: DataView): Dimensions | null {
  let offset = 2;
  while (offset + 9 < bytes.length) {
    if (bytes[offset] !== 0xff) return null;
    const marker = bytes[offset + 1];
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      offset += 2;
      continue;
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { width: view.getUint16(offset + 7), height: view.getUint16(offset + 5) };
    }
    offset += 2 + view.getUint16(offset + 2);
  }
  return null;
}

/** The reason an image is refused for its size, or null when it is within the limit. */
export async function pixelLimitProblem(bytes: Uint8Array, maxPixels: number): Promise<string | null> {
  const size = await readDimensions(bytes);
  if (!size) return null;
  const pixels = size.width * size.height;
  if (pixels <= maxPixels) return null;
  return `too many pixels: the image declares ${size.width}x${size.height} = ${(pixels / 1e6).toFixed(1)} megapixels, over the limit of ${(maxPixels / 1e6).toFixed(1)} (--max-pixels)`;
}
