import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { batches, fingerprintFiles, readMnist, type IdxDatasetItem } from '../src/index.js';
import { sharedDataset, tempDir } from './helpers.js';

function idx(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint32(0, magic, false);
  dims.forEach((d, i) => header.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.byteLength + data.length);
  out.set(new Uint8Array(header.buffer), 0);
  out.set(data, header.byteLength);
  return out;
}

/** Train: 3 images of 2x3 with labels 1,0,1 (gzipped); test: 2 images, labels 0,1 (plain IDX). */
async function writeTinyMnist(root: string, overrides: Record<string, Uint8Array> = {}): Promise<void> {
  await mkdir(root, { recursive: true });
  const files: Record<string, Uint8Array> = {
    'train-images-idx3-ubyte.gz': gzipSync(idx(0x803, [3, 3, 2], Uint8Array.from({ length: 18 }, (_, i) => i * 10))),
    'train-labels-idx1-ubyte.gz': gzipSync(idx(0x801, [3], Uint8Array.from([1, 0, 1]))),
    't10k-images-idx3-ubyte': idx(0x803, [2, 3, 2], Uint8Array.from({ length: 12 }, (_, i) => 255 - i)),
    't10k-labels-idx1-ubyte': idx(0x801, [2], Uint8Array.from([0, 1])),
    ...overrides,
  };
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(root, name), bytes);
}

let base: string;
beforeAll(async () => {
  base = await tempDir('mnist');
});

describe('readMnist on tiny IDX files', () => {
  it('keeps the normal digit for training and labels the test set, gz or plain', async () => {
    const root = join(base, 'ok');
    await writeTinyMnist(root);
    const dataset = await readMnist(root, { normalDigit: 1 });
    expect(dataset.items.map((i) => [i.relPath, i.label, i.classLabel])).toEqual([
      ['test/0/0', 1, 0],
      ['test/1/1', 0, 1],
      ['train/1/0', 0, 1],
      ['train/1/2', 0, 1],
    ]);
    const train = dataset.items.filter((i) => i.split === 'train');
    const spec = { width: 2, height: 3, channels: 1 as const, resize: 'fill' as const, interpolation: 'nearest' as const, mean: [0], std: [1] };
    const [batch] = await collect(batches(train, spec, { batchSize: 8 }));
    const expected = [0, 10, 20, 30, 40, 50, 120, 130, 140, 150, 160, 170].map((v) => Math.fround(v / 255));
    expect([...batch.tensors]).toEqual(expected);
  });

  it('bad files are clear errors naming the file', async () => {
    const badMagic = join(base, 'magic');
    await writeTinyMnist(badMagic, { 't10k-labels-idx1-ubyte': idx(0x803, [2], Uint8Array.from([0, 1])) });
    await expect(readMnist(badMagic, { normalDigit: 0 })).rejects.toThrow(/t10k-labels-idx1-ubyte: IDX magic 0x00000803, expected 0x00000801/);
    const truncated = join(base, 'truncated');
    await writeTinyMnist(truncated, { 't10k-images-idx3-ubyte': idx(0x803, [2, 3, 2], new Uint8Array(7)) });
    await expect(readMnist(truncated, { normalDigit: 0 })).rejects.toThrow(/t10k-images-idx3-ubyte: 7 data bytes, dimensions 2x3x2 need 12/);
    const notGzip = join(base, 'gz');
    await writeTinyMnist(notGzip, { 'train-labels-idx1-ubyte.gz': Uint8Array.from([1, 2, 3]) });
    await expect(readMnist(notGzip, { normalDigit: 0 })).rejects.toThrow(/train-labels-idx1-ubyte\.gz: not a valid gzip file/);
    await expect(readMnist(join(base, 'absent'), { normalDigit: 0 })).rejects.toThrow(/MNIST folder not found/);
    await mkdir(join(base, 'emptydir'));
    await expect(readMnist(join(base, 'emptydir'), { normalDigit: 0 })).rejects.toThrow(/MNIST file not found: .*train-images-idx3-ubyte\(\.gz\)/);
    await expect(readMnist(badMagic, { normalDigit: 10 })).rejects.toThrow(/normalDigit must be an integer 0-9/);
  });
});

describe('readMnist on the real files', () => {
  it('training image 0 is a 5 (as published), streamed as 28x28 and fingerprinted by pixels', async () => {
    const dataset = await readMnist(sharedDataset('mnist'), { normalDigit: 5 });
    const first = dataset.items.find((i) => i.split === 'train' && i.index === 0) as IdxDatasetItem;
    expect(first.relPath).toBe('train/5/00000');
    const spec = { width: 28, height: 28, channels: 1 as const, resize: 'fill' as const, interpolation: 'bilinear' as const, mean: [0], std: [1] };
    const [batch] = await collect(batches([first], spec, { batchSize: 1 }));
    const size = 28 * 28;
    const pixels = first.images.data.subarray(0, size);
    expect(batch.tensors).toEqual(Float32Array.from(pixels, (v) => v / 255));
    const second = dataset.items.find((i) => i.split === 'train' && i.index !== 0) as IdxDatasetItem;
    const a = await fingerprintFiles([first, second]);
    expect(await fingerprintFiles([second, first])).toBe(a);
    expect(await fingerprintFiles([first])).not.toBe(a);
  });
});

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x);
  return out;
}
