/** Reader counts against each dataset's MANIFEST.txt (../shared/datasets); counting reads no pixels. */
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { batches, readExclusionList, readFolderDataset, readMnist, readMvtec, type DatasetItem } from '../src/index.js';
import { sharedDataset } from './helpers.js';

function countBy<T>(values: readonly T[], key: (v: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[key(v)] = (counts[key(v)] ?? 0) + 1;
  return counts;
}

const group = (item: DatasetItem): string => `${item.split}:${item.label}`;

describe('casting (folder layout)', () => {
  it('counts 2875 train good, 198 test good after the 64 exclusions, 453 defective', async () => {
    const root = sharedDataset('casting');
    const exclude = await readExclusionList(join(root, 'EXCLUDE_test.txt'));
    expect(exclude).toHaveLength(64);
    const dataset = await readFolderDataset(root, {
      trainNormalDirs: ['train/ok_front'],
      testNormalDirs: ['test/ok_front'],
      testAnomalyDirs: ['test/def_front'],
      exclude,
    });
    expect(countBy(dataset.items, group)).toEqual({ 'train:0': 2875, 'test:0': 198, 'test:1': 453 });
    expect(dataset.report.excluded).toHaveLength(64);
    expect(dataset.report.unknownExclusions).toEqual([]);
    expect(dataset.report.ignored).toEqual([]);
    expect(dataset.items.filter((i) => i.label === 1).every((i) => i.defectType === 'def_front')).toBe(true);

    const withoutExclusions = await readFolderDataset(root, {
      trainNormalDirs: ['train/ok_front'],
      testNormalDirs: ['test/ok_front'],
    });
    expect(countBy(withoutExclusions.items, group)).toEqual({ 'train:0': 2875, 'test:0': 262 });
  });
});

describe('magnetic_tile (MVTec layout)', () => {
  it('counts 700 train good, 252 test good, 392 defective in 5 classes, one same-size mask each', async () => {
    const dataset = await readMvtec(sharedDataset('magnetic_tile'));
    expect(countBy(dataset.items, group)).toEqual({ 'train:0': 700, 'test:0': 252, 'test:1': 392 });
    const defective = dataset.items.filter((i) => i.label === 1);
    expect(countBy(defective, (i) => i.defectType ?? '?')).toEqual({ blowhole: 115, break: 85, crack: 57, fray: 32, uneven: 103 });
    expect(dataset.report).toEqual({ ignored: [], excluded: [], unknownExclusions: [], missingMasks: [], orphanMasks: [] });
    expect(defective.every((i) => i.maskPath !== undefined)).toBe(true);
    for (const item of defective) {
      const [image, mask] = await Promise.all([sharp(item.path).metadata(), sharp(item.maskPath!).metadata()]);
      expect([mask.width, mask.height], item.relPath).toEqual([image.width, image.height]);
    }
  });

  it('streams real images with their masks at the model size', async () => {
    const dataset = await readMvtec(sharedDataset('magnetic_tile'));
    const sample = [dataset.items.find((i) => i.label === 1)!, dataset.items.find((i) => i.split === 'test' && i.label === 0)!];
    const spec = { width: 32, height: 32, channels: 1 as const, resize: 'fill' as const, interpolation: 'bilinear' as const, mean: [0.5], std: [0.5] };
    const out = [];
    for await (const batch of batches(sample, spec, { batchSize: 2, withMasks: true })) out.push(batch);
    expect(out).toHaveLength(1);
    expect(out[0].tensors).toHaveLength(2 * 32 * 32);
    const [defectMask, goodMask] = out[0].masks!;
    expect(defectMask!.some((v) => v === 1)).toBe(true);
    expect(goodMask!.every((v) => v === 0)).toBe(true);
  });
});

describe('mnist (IDX gz)', () => {
  const train: Record<string, number> = { 0: 5923, 1: 6742, 2: 5958, 3: 6131, 4: 5842, 5: 5421, 6: 5918, 7: 6265, 8: 5851, 9: 5949 };
  const test: Record<string, number> = { 0: 980, 1: 1135, 2: 1032, 3: 1010, 4: 982, 5: 892, 6: 958, 7: 1028, 8: 974, 9: 1009 };

  it('one digit normal in train, all 10,000 test images with the other digits anomalous', async () => {
    const dataset = await readMnist(sharedDataset('mnist'), { normalDigit: 3 });
    const trainItems = dataset.items.filter((i) => i.split === 'train');
    const testItems = dataset.items.filter((i) => i.split === 'test');
    expect(trainItems).toHaveLength(train[3]);
    expect(trainItems.every((i) => i.classLabel === 3 && i.label === 0)).toBe(true);
    expect(countBy(testItems, (i) => String(i.classLabel))).toEqual(test);
    expect(testItems.filter((i) => i.label === 0)).toHaveLength(test[3]);
    expect(testItems.every((i) => (i.label === 0) === (i.classLabel === 3))).toBe(true);
  });

  it('training counts per digit match the manifest', async () => {
    for (const digit of [0, 1, 2, 4, 5, 6, 7, 8, 9]) {
      const dataset = await readMnist(sharedDataset('mnist'), { normalDigit: digit });
      expect(dataset.items.filter((i) => i.split === 'train'), `digit ${digit}`).toHaveLength(train[digit]);
    }
  });
});
