import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError, MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_ENV, decodeImage, encodePng, maxImagePixels } from '../src/index.js';

/** A real 16x16 PNG whose header then claims width x height (a decompression bomb's header). */
async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await encodePng({ data: new Uint8Array(256).fill(90), width: 16, height: 16, channels: 1 }));
  // IHDR: 8-byte signature, 4 length, 4 type, then width and height, CRC after the 13 data bytes.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

describe('the pixel limit', () => {
  it('is one constant, sharp\'s default, overridable by RESIDUUM_MAX_IMAGE_PIXELS', () => {
    expect(MAX_IMAGE_PIXELS).toBe(16383 * 16383);
    expect(maxImagePixels({})).toBe(MAX_IMAGE_PIXELS);
    expect(maxImagePixels({ [MAX_IMAGE_PIXELS_ENV]: '500000000' })).toBe(500_000_000);
    expect(() => maxImagePixels({ [MAX_IMAGE_PIXELS_ENV]: 'lots' })).toThrow(/RESIDUUM_MAX_IMAGE_PIXELS must be a whole number/);
  });

  it('a 20,000 x 20,000 PNG is "over the pixel limit" (with how to raise it), not "corrupt"', async () => {
    const bomb = await pngClaiming(20_000, 20_000);
    const error = await decodeImage(bomb, { source: 'huge.png' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageDecodeError);
    expect((error as ImageDecodeError).failure).toBe('too-large');
    expect((error as ImageDecodeError).message).toBe(
      'huge.png: image is 20000x20000 (400.0 Mpx), over the pixel limit of 268.4 Mpx; to decode it, raise the limit with RESIDUUM_MAX_IMAGE_PIXELS=400000000',
    );
  });

  it('applies a given limit to ordinary images too, and decodes them under it', async () => {
    const png = await pngClaiming(16, 16);
    await expect(decodeImage(png, { source: 'small.png', maxPixels: 255 })).rejects.toThrow(/small\.png: image is 16x16 .* over the pixel limit/);
    await expect(decodeImage(png, { maxPixels: 256 })).resolves.toMatchObject({ width: 16, height: 16 });
  });
});
