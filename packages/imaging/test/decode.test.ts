import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { preprocessImage, type PreprocessingSpec } from '@residuum/scoring';
import { ImageDecodeError, decodeImage, loadMask, loadModelInput } from '../src/index.js';
import { sharedDataset, tempDir } from './helpers.js';

const castingImage = () => join(sharedDataset('casting'), 'test/ok_front/cast_ok_0_10.jpeg');
const tileImage = () => join(sharedDataset('magnetic_tile'), 'test/crack/exp1_num_249594.jpg');
const tileMask = () => join(sharedDataset('magnetic_tile'), 'ground_truth/crack/exp1_num_249594_mask.png');

/** 3x2 RGBA with distinct values; alpha varies, including fully transparent. */
const RGBA_3x2 = Uint8Array.from([
  10, 20, 30, 255, 40, 50, 60, 128, 70, 80, 90, 0,
  100, 110, 120, 255, 130, 140, 150, 255, 160, 170, 180, 64,
]);
const RGB_3x2 = Uint8Array.from([...RGBA_3x2].filter((_, i) => i % 4 !== 3));

/** A 24-bit bottom-up BMP written by hand (rows padded to 4 bytes, BGR order). */
function bmp24(width: number, height: number, rgb: Uint8Array): Uint8Array {
  const rowBytes = Math.ceil((width * 3) / 4) * 4;
  const out = new Uint8Array(54 + rowBytes * height);
  const view = new DataView(out.buffer);
  out[0] = 0x42;
  out[1] = 0x4d;
  view.setUint32(2, out.length, true);
  view.setUint32(10, 54, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, width, true);
  view.setInt32(22, height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, 24, true);
  view.setUint32(34, rowBytes * height, true);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      out[row + x * 3] = rgb[p + 2];
      out[row + x * 3 + 1] = rgb[p + 1];
      out[row + x * 3 + 2] = rgb[p];
    }
  }
  return out;
}

let dir: string;
beforeAll(async () => {
  dir = await tempDir('decode');
});

describe('decodeImage', () => {
  it('decodes a real 3-component JPEG (casting) as RGB at native size', async () => {
    const raw = await decodeImage(castingImage());
    expect([raw.width, raw.height, raw.channels]).toEqual([300, 300, 3]);
    expect(raw.data.length).toBe(300 * 300 * 3);
  });

  it('decodes a real grey JPEG (magnetic tile) as one channel at its own size', async () => {
    const path = tileImage();
    const meta = await sharp(path).metadata();
    const raw = await decodeImage(path);
    expect([raw.width, raw.height, raw.channels]).toEqual([meta.width, meta.height, 1]);
    const stats = await sharp(path).stats();
    let sum = 0;
    for (const v of raw.data) sum += v;
    const mean = sum / raw.data.length;
    expect(mean).toBeCloseTo(stats.channels[0].mean, 6);
  });

  it('drops PNG alpha but keeps the stored colour, from a buffer', async () => {
    const png = await sharp(RGBA_3x2, { raw: { width: 3, height: 2, channels: 4 } }).png().toBuffer();
    const raw = await decodeImage(png, { source: 'rgba.png' });
    expect([raw.width, raw.height, raw.channels]).toEqual([3, 2, 3]);
    expect([...raw.data]).toEqual([...RGB_3x2]);
  });

  it('keeps grey + alpha and 16-bit grey PNG as one 8-bit channel', async () => {
    const greyAlpha = await sharp(Uint8Array.from([5, 255, 200, 0]), { raw: { width: 2, height: 1, channels: 2 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect((await sharp(greyAlpha).metadata()).channels).toBe(2);
    const ga = await decodeImage(greyAlpha);
    expect([ga.channels, ...ga.data]).toEqual([1, 5, 200]);
    const grey16 = await sharp(Uint8Array.from([0, 77, 255]), { raw: { width: 3, height: 1, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toBuffer();
    expect((await sharp(grey16).metadata()).depth).toBe('ushort');
    const g16 = await decodeImage(grey16);
    expect([g16.channels, ...g16.data]).toEqual([1, 0, 77, 255]);
  });

  it('decodes lossless TIFF and WebP exactly', async () => {
    const input = sharp(RGB_3x2, { raw: { width: 3, height: 2, channels: 3 } });
    const tiff = await input.clone().tiff({ compression: 'lzw' }).toBuffer();
    const webp = await input.clone().webp({ lossless: true }).toBuffer();
    for (const bytes of [tiff, webp]) {
      const raw = await decodeImage(bytes);
      expect([raw.width, raw.height, raw.channels]).toEqual([3, 2, 3]);
      expect([...raw.data]).toEqual([...RGB_3x2]);
    }
  });

  it('decodes a 24-bit BMP (which sharp cannot) exactly, rows padded and bottom-up', async () => {
    const path = join(dir, 'tiny.bmp');
    await writeFile(path, bmp24(3, 2, RGB_3x2));
    const raw = await decodeImage(path);
    expect([raw.width, raw.height, raw.channels]).toEqual([3, 2, 3]);
    expect([...raw.data]).toEqual([...RGB_3x2]);
  });

  it('applies EXIF orientation like browsers do', async () => {
    const jpeg = await sharp(RGB_3x2, { raw: { width: 3, height: 2, channels: 3 } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const raw = await decodeImage(jpeg);
    expect([raw.width, raw.height]).toEqual([2, 3]);
  });
});

describe('decodeImage errors name the file and the reason', () => {
  async function expectFailure(path: string, failure: string, reason: RegExp): Promise<void> {
    const error = await decodeImage(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageDecodeError);
    const decodeError = error as ImageDecodeError;
    expect(decodeError.failure).toBe(failure);
    expect(decodeError.message).toContain(path);
    expect(decodeError.message).toMatch(reason);
  }

  it('zero bytes', async () => {
    const path = join(dir, 'empty.png');
    await writeFile(path, new Uint8Array(0));
    await expectFailure(path, 'empty', /empty \(0 bytes\)/);
  });

  it('a real JPEG cut in half', async () => {
    const bytes = await readFile(castingImage());
    const path = join(dir, 'half.jpeg');
    await writeFile(path, bytes.subarray(0, bytes.length >> 1));
    await expectFailure(path, 'truncated', /truncated JPEG/);
  });

  it('a real PNG cut in half', async () => {
    const bytes = await readFile(tileMask());
    const path = join(dir, 'half.png');
    await writeFile(path, bytes.subarray(0, bytes.length >> 1));
    await expectFailure(path, 'truncated', /truncated PNG/);
  });

  it('a TIFF and a BMP cut in half', async () => {
    const tiff = await sharp(castingImage()).tiff().toBuffer();
    const tiffPath = join(dir, 'half.tiff');
    await writeFile(tiffPath, tiff.subarray(0, tiff.length >> 1));
    await expectFailure(tiffPath, 'corrupt', /TIFF \(or truncated\)/);
    const bmp = bmp24(3, 2, RGB_3x2);
    const bmpPath = join(dir, 'half.bmp');
    await writeFile(bmpPath, bmp.subarray(0, 60));
    await expectFailure(bmpPath, 'truncated', /truncated BMP/);
  });

  it('a WebP cut in half is truncated; a complete JPEG with a spliced-out middle is corrupt', async () => {
    const bytes = await readFile(castingImage());
    const webp = await sharp(bytes).webp().toBuffer();
    const webpPath = join(dir, 'half.webp');
    await writeFile(webpPath, webp.subarray(0, webp.length >> 1));
    await expectFailure(webpPath, 'truncated', /truncated WebP/);
    const splicedPath = join(dir, 'spliced.jpeg');
    await writeFile(splicedPath, Buffer.concat([bytes.subarray(0, 3000), bytes.subarray(6000)]));
    await expectFailure(splicedPath, 'corrupt', /corrupt JPEG/);
  });

  it('a text file renamed .png', async () => {
    const path = join(dir, 'notes.png');
    await writeFile(path, 'these are notes, not pixels\n');
    await expectFailure(path, 'not-an-image', /not an image/);
  });

  it('an image format outside the supported list (GIF)', async () => {
    const path = join(dir, 'anim.gif');
    await writeFile(path, await sharp(RGB_3x2, { raw: { width: 3, height: 2, channels: 3 } }).gif().toBuffer());
    await expectFailure(path, 'unsupported-format', /unsupported image format GIF/);
  });

  it('a missing file and a directory', async () => {
    await expectFailure(join(dir, 'nope.png'), 'unreadable', /file not found/);
    await expectFailure(dir, 'unreadable', /is a directory/);
  });
});

describe('loadModelInput', () => {
  const spec: PreprocessingSpec = {
    width: 16,
    height: 12,
    channels: 3,
    resize: 'center-crop',
    interpolation: 'bilinear',
    mean: [0.5, 0.4, 0.3],
    std: [0.2, 0.25, 0.3],
  };

  it('is exactly scoring.preprocessImage of the decoded image (CHW), and HWC on request', async () => {
    const path = castingImage();
    const { tensor, raw } = await loadModelInput(path, spec);
    expect(tensor).toEqual(preprocessImage(await decodeImage(path), spec));
    expect(raw.width).toBe(300);
    const { tensor: hwc } = await loadModelInput(path, spec, { layout: 'NHWC' });
    const plane = spec.width * spec.height;
    for (const i of [0, 7, 100, plane - 1]) {
      for (let c = 0; c < 3; c++) expect(hwc[i * 3 + c]).toBe(tensor[c * plane + i]);
    }
  });
});

describe('loadMask', () => {
  it('binarizes at 128 and resizes by nearest neighbour', async () => {
    // 4x2 mask: left half 127 / 128, right half 0 / 255.
    const values = Uint8Array.from([127, 127, 0, 0, 128, 128, 255, 255]);
    const png = await sharp(values, { raw: { width: 4, height: 2, channels: 1 } }).png().toBuffer();
    expect([...(await loadMask(png, 4, 2))]).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect([...(await loadMask(png, 2, 1))]).toEqual([1, 1]); // samples row 1: 128, 255
    expect([...(await loadMask(png, 8, 2))]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    // center-crop to a square keeps the middle two columns of the 4x2 mask.
    expect([...(await loadMask(png, 2, 2, { resize: 'center-crop' }))]).toEqual([0, 0, 1, 1]);
  });

  it('a real magnetic-tile mask matches its image size and has defect pixels', async () => {
    const image = await decodeImage(tileImage());
    const mask = await loadMask(tileMask(), image.width, image.height);
    expect(mask.length).toBe(image.width * image.height);
    const defect = mask.reduce((a, b) => a + b, 0);
    expect(defect).toBeGreaterThan(0);
    expect(defect).toBeLessThan(mask.length);
    expect(mask.every((v) => v === 0 || v === 1)).toBe(true);
  });

  it('rejects a bad size naming the argument', async () => {
    await expect(loadMask(tileMask(), 0, 5)).rejects.toThrow(/width must be a positive integer/);
  });
});
