import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../src/index.js';
import { greyFromHeader } from '../src/format.js';

/** The decode as it was before the header shortcut: grey or colour always from sharp's metadata. */
async function viaMetadata(bytes: Uint8Array): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const image = sharp(bytes, { failOn: 'warning' });
  const meta = await image.metadata();
  const grey = meta.space === 'b-w' || meta.space === 'grey16' || (meta.channels ?? 3) <= 2;
  const { data, info } = await image.autoOrient().removeAlpha().toColourspace(grey ? 'b-w' : 'srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels };
}

function pixels(width: number, height: number, channels: number, seed: number): Buffer {
  const out = Buffer.alloc(width * height * channels);
  for (let i = 0; i < out.length; i++) out[i] = (i * 37 + seed * 11 + ((i / channels) | 0) * 3) % 256;
  return out;
}

describe('grey or colour from the header', () => {
  it('agrees with sharp metadata, and decodes exactly as the metadata path, for the formats it reads and those it leaves to sharp', async () => {
    const raw = (channels: 1 | 2 | 3 | 4) => sharp(pixels(9, 7, channels, channels), { raw: { width: 9, height: 7, channels } });
    const cases: Array<[string, Promise<Buffer>, boolean | undefined]> = [
      ['grey JPEG', raw(1).toColourspace('b-w').jpeg().toBuffer(), true],
      ['colour JPEG', raw(3).jpeg().toBuffer(), false],
      ['progressive colour JPEG', raw(3).jpeg({ progressive: true }).toBuffer(), false],
      ['colour JPEG with EXIF orientation', raw(3).jpeg().withMetadata({ orientation: 6 }).toBuffer(), false],
      ['CMYK JPEG (left to sharp)', raw(3).toColourspace('cmyk').jpeg().toBuffer(), undefined],
      ['grey PNG', raw(1).toColourspace('b-w').png().toBuffer(), true],
      ['grey + alpha PNG', raw(2).toColourspace('b-w').png().toBuffer(), true],
      ['16-bit grey PNG', raw(1).toColourspace('grey16').png().toBuffer(), true],
      ['RGB PNG', raw(3).png().toBuffer(), false],
      ['RGBA PNG', raw(4).png().toBuffer(), false],
      ['palette PNG (left to sharp)', raw(3).png({ palette: true }).toBuffer(), undefined],
      ['WebP (left to sharp)', raw(3).webp({ lossless: true }).toBuffer(), undefined],
    ];
    for (const [name, encoded, expected] of cases) {
      const bytes = new Uint8Array(await encoded);
      const format = name.includes('JPEG') ? 'jpeg' : name.includes('PNG') ? 'png' : 'webp';
      expect(greyFromHeader(bytes, format), name).toBe(expected);
      if (expected !== undefined) {
        const meta = await sharp(bytes).metadata();
        expect(meta.space === 'b-w' || meta.space === 'grey16' || (meta.channels ?? 3) <= 2, name).toBe(expected);
      }
      const decoded = await decodeImage(bytes, { source: name });
      const reference = await viaMetadata(bytes);
      expect({ ...decoded, data: Array.from(decoded.data) }, name).toEqual({ ...reference, data: Array.from(reference.data) });
    }
  });

  it('gives up on a header it cannot walk', () => {
    expect(greyFromHeader(Uint8Array.from([0xff, 0xd8, 0xff]), 'jpeg')).toBeUndefined();
    expect(greyFromHeader(Uint8Array.from([0xff, 0xd8, 0x00, 0x10, 0x00]), 'jpeg')).toBeUndefined();
    expect(greyFromHeader(Uint8Array.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]), 'jpeg')).toBeUndefined();
    expect(greyFromHeader(new Uint8Array(20), 'png')).toBeUndefined();
  });
});
