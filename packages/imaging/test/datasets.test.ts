import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { preprocessImage, type PreprocessingSpec } from '@residuum/scoring';
import {
  DatasetError,
  ImageDecodeError,
  batches,
  decodeImage,
  fingerprintFiles,
  loadMask,
  readExclusionList,
  readFolderDataset,
  readMvtec,
  splitTrainValidation,
  type FileDatasetItem,
} from '../src/index.js';
import { tempDir } from './helpers.js';

/** A deterministic 6x4 grey PNG whose pixels depend on `seed`. */
function greyPng(seed: number): Promise<Buffer> {
  const pixels = Uint8Array.from({ length: 24 }, (_, i) => (seed * 37 + i * 11) % 256);
  return sharp(pixels, { raw: { width: 6, height: 4, channels: 1 } }).png().toBuffer();
}

async function writeFiles(root: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const path = join(root, rel);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content);
  }
}

const spec: PreprocessingSpec = { width: 4, height: 4, channels: 1, resize: 'fill', interpolation: 'bilinear', mean: [0.5], std: [0.25] };

let base: string;
beforeAll(async () => {
  base = await tempDir('datasets');
});

describe('readMvtec', () => {
  it('labels classes, pairs masks and reports what it did not use', async () => {
    const root = join(base, 'mvtec');
    const mask = await sharp(Uint8Array.from({ length: 24 }, (_, i) => (i < 12 ? 0 : 255)), { raw: { width: 6, height: 4, channels: 1 } })
      .png()
      .toBuffer();
    await writeFiles(root, {
      'train/good/a.png': await greyPng(1),
      'train/good/B.JPG': await sharp(await greyPng(2)).jpeg().toBuffer(),
      'train/good/readme.txt': 'notes',
      'train/bad/x.png': await greyPng(3),
      'test/good/c.png': await greyPng(4),
      'test/good/nested/d.png': await greyPng(5),
      'test/scratch/e.png': await greyPng(6),
      'test/scratch/f.png': await greyPng(7),
      'ground_truth/scratch/e_mask.png': mask,
      'ground_truth/scratch/zzz_mask.png': mask,
    });
    const dataset = await readMvtec(root);
    expect(dataset.items.map((i) => [i.relPath, i.split, i.label, i.defectType ?? '-'])).toEqual([
      ['test/good/c.png', 'test', 0, '-'],
      ['test/scratch/e.png', 'test', 1, 'scratch'],
      ['test/scratch/f.png', 'test', 1, 'scratch'],
      ['train/good/B.JPG', 'train', 0, '-'],
      ['train/good/a.png', 'train', 0, '-'],
    ]);
    expect(dataset.items[1].maskPath).toBe(join(root, 'ground_truth/scratch/e_mask.png'));
    expect(dataset.report.ignored.map((e) => e.relPath).sort()).toEqual(['test/good/nested', 'train/bad', 'train/good/readme.txt']);
    expect(dataset.report.ignored.find((e) => e.relPath === 'train/good/readme.txt')?.reason).toMatch(/not an image.*\.txt/);
    expect(dataset.report.missingMasks).toEqual(['test/scratch/f.png']);
    expect(dataset.report.orphanMasks).toEqual(['ground_truth/scratch/zzz_mask.png']);
  });

  it('applies exclusions, and batches with masks check each mask against its image size', async () => {
    const root = join(base, 'mvtec-masks');
    const mask = (width: number, height: number) =>
      sharp(Uint8Array.from({ length: width * height }, (_, i) => (i % 2 ? 255 : 0)), { raw: { width, height, channels: 1 } })
        .png()
        .toBuffer();
    await writeFiles(root, {
      'train/good/a.png': await greyPng(1),
      'test/good/b.png': await greyPng(2),
      'test/good/leak.png': await greyPng(1),
      'test/dent/c.png': await greyPng(3),
      'test/dent/d.png': await greyPng(4),
      'ground_truth/dent/c_mask.png': await mask(6, 4),
      'ground_truth/dent/d_mask.png': await mask(3, 3),
    });
    const dataset = await readMvtec(root, { exclude: ['test/good/leak.png', 'test/good/gone.png'] });
    expect(dataset.report.excluded).toEqual(['test/good/leak.png']);
    expect(dataset.report.unknownExclusions).toEqual(['test/good/gone.png']);
    const test = dataset.items.filter((i) => i.split === 'test');
    const stream = batches(test, spec, { batchSize: 4, onError: 'skip', withMasks: true });
    const [batch] = await collect(stream);
    expect(batch.items.map((i) => i.relPath)).toEqual(['test/dent/c.png', 'test/good/b.png']);
    expect([...batch.masks![0]!]).toEqual([...(await loadMask(join(root, 'ground_truth/dent/c_mask.png'), 4, 4))]);
    expect(batch.masks![0]!.some((v) => v === 1)).toBe(true);
    expect(batch.masks![1]!.every((v) => v === 0)).toBe(true);
    expect(stream.report().skipped.map((s) => s.reason)).toEqual([
      `${join(root, 'ground_truth/dent/d_mask.png')}: mask is 3x3 but its image test/dent/d.png is 6x4`,
    ]);
  });

  it('missing or empty folders are clear errors', async () => {
    await expect(readMvtec(join(base, 'nowhere'))).rejects.toThrow(/MVTec dataset root not found: .*nowhere/);
    const root = join(base, 'mvtec-empty');
    await mkdir(join(root, 'train/good'), { recursive: true });
    await expect(readMvtec(root)).rejects.toThrow(/train\/good has no images .*it is empty/);
    await writeFiles(root, { 'train/good/a.png': await greyPng(1) });
    await expect(readMvtec(root)).rejects.toThrow(/MVTec test folder not found/);
    await writeFiles(root, { 'test/good/notes.md': 'x' });
    await expect(readMvtec(root)).rejects.toThrow(DatasetError);
    await expect(readMvtec(root)).rejects.toThrow(/test\/good has no images .*1 other entry/);
  });
});

describe('readFolderDataset and exclusion lists', () => {
  it('reads named folders, applies exclusions and reports unknown ones', async () => {
    const root = join(base, 'folders');
    await writeFiles(root, {
      'ok/1.png': await greyPng(1),
      'ok/2.PNG': await greyPng(2),
      'held/3.png': await greyPng(3),
      'held/4.png': await greyPng(4),
      'defect/5.webp': await sharp(await greyPng(5)).webp({ lossless: true }).toBuffer(),
      'defect/Thumbs.db': 'x',
      'exclude.txt': '# leaked into train\n\n./held/4.png\nheld\\3.png\n  held/missing.png  \n',
    });
    const exclude = await readExclusionList(join(root, 'exclude.txt'));
    expect(exclude).toEqual(['held/4.png', 'held/3.png', 'held/missing.png']);
    const dataset = await readFolderDataset(root, {
      trainNormalDirs: ['ok'],
      testNormalDirs: ['held/'],
      testAnomalyDirs: ['./defect'],
      exclude,
    });
    expect(dataset.items.map((i) => `${i.relPath}:${i.split}:${i.label}`)).toEqual(['defect/5.webp:test:1', 'ok/1.png:train:0', 'ok/2.PNG:train:0']);
    expect(dataset.report.excluded.sort()).toEqual(['held/3.png', 'held/4.png']);
    expect(dataset.report.unknownExclusions).toEqual(['held/missing.png']);
    expect(dataset.report.ignored.map((e) => e.relPath)).toEqual(['defect/Thumbs.db']);
  });

  it('rejects bad options and absolute exclusion paths with the reason', async () => {
    const root = join(base, 'folders');
    await expect(readFolderDataset(root, { trainNormalDirs: [] })).rejects.toThrow(/trainNormalDirs must name at least one folder/);
    await expect(readFolderDataset(root, { trainNormalDirs: ['ok'], testNormalDirs: ['ok'] })).rejects.toThrow(/listed twice/);
    await expect(readFolderDataset(root, { trainNormalDirs: ['../x'] })).rejects.toThrow(/relative to the dataset root/);
    await expect(readFolderDataset(root, { trainNormalDirs: ['absent'] })).rejects.toThrow(/folder 'absent' not found/);
    await writeFiles(root, { 'bad-exclude.txt': 'ok/1.png\n/etc/passwd\n' });
    await expect(readExclusionList(join(root, 'bad-exclude.txt'))).rejects.toThrow(/bad-exclude\.txt:2: '\/etc\/passwd' must be a path relative/);
    await expect(readExclusionList(join(root, 'none.txt'))).rejects.toThrow(/cannot read exclusion list .*none\.txt/);
  });
});

describe('splitTrainValidation', () => {
  const items = Array.from({ length: 50 }, (_, i) => ({ relPath: `train/good/${String(i).padStart(3, '0')}.png`, label: 0 as const }));

  it('is deterministic per seed, independent of input order, disjoint and complete', () => {
    const a = splitTrainValidation(items, 0.2, 7);
    const b = splitTrainValidation([...items].reverse(), 0.2, 7);
    expect(a).toEqual(b);
    expect(a.validation).toHaveLength(10);
    expect(a.train).toHaveLength(40);
    const all = [...a.train, ...a.validation].map((i) => i.relPath).sort();
    expect(all).toEqual(items.map((i) => i.relPath));
    const other = splitTrainValidation(items, 0.2, 8);
    expect(other.validation.map((i) => i.relPath)).not.toEqual(a.validation.map((i) => i.relPath));
  });

  it('adding items keeps earlier validation choices where they still rank first', () => {
    const before = splitTrainValidation(items, 0.2, 7).validation.map((i) => i.relPath);
    const more = [...items, ...Array.from({ length: 5 }, (_, i) => ({ relPath: `train/good/new-${i}.png`, label: 0 as const }))];
    const after = splitTrainValidation(more, 0.2, 7).validation.map((i) => i.relPath);
    expect(after.filter((p) => before.includes(p)).length).toBeGreaterThanOrEqual(before.length - 5);
  });

  it('rejects anomalous items, bad fractions and splits that leave a side empty', () => {
    expect(() => splitTrainValidation([...items, { relPath: 'test/x.png', label: 1 as const }], 0.2, 1)).toThrow(/test\/x\.png is anomalous/);
    expect(() => splitTrainValidation(items, 1, 1)).toThrow(/fraction must be in \(0, 1\)/);
    expect(() => splitTrainValidation(items.slice(0, 1), 0.2, 1)).toThrow(/leaves no validation item/);
    expect(() => splitTrainValidation(items, 0.2, 1.5)).toThrow(/seed must be an integer/);
  });
});

describe('batches', () => {
  let items: FileDatasetItem[];
  beforeAll(async () => {
    const root = join(base, 'stream');
    const half = await greyPng(9);
    await writeFiles(root, {
      'good/00.png': await greyPng(0),
      'good/01.png': await greyPng(1),
      'good/02.png': half.subarray(0, half.length >> 1),
      'good/03.png': await greyPng(3),
      'good/04.png': 'text renamed to png',
      'good/05.png': await greyPng(5),
      'good/06.png': await greyPng(6),
      'good/07.png': new Uint8Array(0),
    });
    items = (await readFolderDataset(root, { trainNormalDirs: ['good'] })).items;
  });

  it("'skip' fills batches from the next items and reports every bad file", async () => {
    const stream = batches(items, spec, { batchSize: 2, onError: 'skip', prefetch: 3 });
    const seen: string[][] = [];
    const skippedPerBatch: string[][] = [];
    for await (const batch of stream) {
      expect(batch.tensors).toHaveLength(batch.items.length * 16);
      for (const [i, item] of batch.items.entries()) {
        expect(batch.tensors.subarray(i * 16, (i + 1) * 16)).toEqual(preprocessImage(await decodeImage(item.path), spec));
      }
      seen.push(batch.items.map((i) => i.relPath));
      skippedPerBatch.push(batch.skipped.map((s) => s.failure));
    }
    expect(seen).toEqual([['good/00.png', 'good/01.png'], ['good/03.png', 'good/05.png'], ['good/06.png']]);
    // A failure after the last image still travels with the final (partial) batch.
    expect(skippedPerBatch).toEqual([[], ['truncated', 'not-an-image'], ['empty']]);
    const report = stream.report();
    expect(report.complete).toBe(true);
    expect(report.imageCount).toBe(5);
    expect(report.skipped.map((s) => [s.item.relPath, s.failure])).toEqual([
      ['good/02.png', 'truncated'],
      ['good/04.png', 'not-an-image'],
      ['good/07.png', 'empty'],
    ]);
    expect(report.skipped[0].reason).toContain(join('good', '02.png'));
  });

  it("'throw' aborts on the first bad image with its ImageDecodeError", async () => {
    const read = async (): Promise<number> => {
      let n = 0;
      for await (const batch of batches(items, spec, { batchSize: 2 })) n += batch.items.length;
      return n;
    };
    const error = await read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageDecodeError);
    expect((error as ImageDecodeError).source).toBe(items[2].path);
  });

  it('NHWC layout transposes each image', async () => {
    const rgbSpec: PreprocessingSpec = { ...spec, channels: 3, mean: [0, 0, 0], std: [1, 1, 1] };
    const good = items.slice(0, 2);
    const [nchw] = await collect(batches(good, rgbSpec, { batchSize: 2 }));
    const [nhwc] = await collect(batches(good, rgbSpec, { batchSize: 2, layout: 'NHWC' }));
    const plane = 16;
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 3; c++) {
        for (const i of [0, 5, 15]) expect(nhwc.tensors[n * 48 + i * 3 + c]).toBe(nchw.tensors[n * 48 + c * plane + i]);
      }
    }
  });

  it('rejects bad options naming them', () => {
    expect(() => batches(items, spec, { batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
    expect(() => batches(items, spec, { batchSize: 2, onError: 'ignore' as 'skip' })).toThrow(/onError must be 'throw' or 'skip'/);
  });
});

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x);
  return out;
}

describe('fingerprintFiles', () => {
  it('depends on relative paths and content, not on order or location', async () => {
    const root = join(base, 'fp');
    await writeFiles(root, { 'a.png': await greyPng(1), 'b.png': await greyPng(2), 'copy/a.png': await greyPng(1), 'copy/b.png': await greyPng(2) });
    const ref = (dir: string, name: string) => ({ path: join(root, dir, name), relPath: name });
    const original = await fingerprintFiles([ref('', 'a.png'), ref('', 'b.png')]);
    expect(original).toMatch(/^[0-9a-f]{64}$/);
    expect(await fingerprintFiles([ref('copy', 'b.png'), ref('copy', 'a.png')])).toBe(original);
    expect(await fingerprintFiles([{ ...ref('', 'a.png'), relPath: 'renamed.png' }, ref('', 'b.png')])).not.toBe(original);
    const bytes = await readFile(join(root, 'copy/b.png'));
    bytes[bytes.length - 20] ^= 1;
    await writeFile(join(root, 'copy/b.png'), bytes);
    expect(await fingerprintFiles([ref('copy', 'a.png'), ref('copy', 'b.png')])).not.toBe(original);
    await expect(fingerprintFiles([ref('', 'a.png'), ref('copy', 'a.png')])).rejects.toThrow(/a\.png is listed twice/);
    await expect(fingerprintFiles([])).rejects.toThrow(/no files given/);
  });
});
