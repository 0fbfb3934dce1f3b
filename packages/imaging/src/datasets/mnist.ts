import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DatasetError } from '../errors.js';
import { requireDirectory } from './files.js';
import { compareRelPath, emptyReport, type Dataset, type IdxDatasetItem, type IdxImages, type Split } from './types.js';

const IDX_UBYTE_IMAGES = 0x00000803;
const IDX_UBYTE_LABELS = 0x00000801;

async function readIdxFile(root: string, baseName: string): Promise<{ file: string; bytes: Uint8Array }> {
  for (const name of [`${baseName}.gz`, baseName]) {
    const file = join(root, name);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch {
      continue;
    }
    if (name.endsWith('.gz')) {
      try {
        bytes = gunzipSync(bytes);
      } catch (error) {
        throw new DatasetError(`${file}: not a valid gzip file (${(error as Error).message})`);
      }
    }
    return { file, bytes };
  }
  throw new DatasetError(`MNIST file not found: ${join(root, baseName)}(.gz)`);
}

/** Parses an unsigned-byte IDX file; checks magic and that the data length matches the dimensions. */
function parseIdx(file: string, bytes: Uint8Array, magic: number, rank: number): { dims: number[]; data: Uint8Array } {
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) throw new DatasetError(`${file}: truncated IDX header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) {
    throw new DatasetError(`${file}: IDX magic 0x${found.toString(16).padStart(8, '0')}, expected 0x${magic.toString(16).padStart(8, '0')}`);
  }
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const data = bytes.subarray(headerBytes);
  if (data.length !== expected) {
    throw new DatasetError(`${file}: ${data.length} data bytes, dimensions ${dims.join('x')} need ${expected} (truncated or corrupt)`);
  }
  return { dims, data };
}

async function readSplit(root: string, prefix: 'train' | 't10k'): Promise<{ images: IdxImages; labels: Uint8Array; labelsFile: string }> {
  const imageFile = await readIdxFile(root, `${prefix}-images-idx3-ubyte`);
  const labelFile = await readIdxFile(root, `${prefix}-labels-idx1-ubyte`);
  const images = parseIdx(imageFile.file, imageFile.bytes, IDX_UBYTE_IMAGES, 3);
  const labels = parseIdx(labelFile.file, labelFile.bytes, IDX_UBYTE_LABELS, 1);
  if (labels.dims[0] !== images.dims[0]) {
    throw new DatasetError(`${labelFile.file}: ${labels.dims[0]} labels for ${images.dims[0]} images in ${imageFile.file}`);
  }
  const bad = labels.data.findIndex((l) => l > 9);
  if (bad >= 0) throw new DatasetError(`${labelFile.file}: label ${labels.data[bad]} at index ${bad} is not a digit 0-9`);
  return {
    images: { file: imageFile.file, data: images.data, count: images.dims[0], height: images.dims[1], width: images.dims[2] },
    labels: labels.data,
    labelsFile: labelFile.file,
  };
}

export interface MnistOptions {
  /** The digit that is "normal"; every other digit is anomalous. */
  normalDigit: number;
}

/**
 * MNIST IDX files (train-/t10k-{images-idx3,labels-idx1}-ubyte, gzipped or not) as a one-class set:
 * train = the normal digit's training images; test = all test images, label 1 for the other digits.
 */
export async function readMnist(root: string, options: MnistOptions): Promise<Dataset<IdxDatasetItem>> {
  const digit = options?.normalDigit;
  if (!Number.isInteger(digit) || digit < 0 || digit > 9) {
    throw new RangeError(`readMnist: normalDigit must be an integer 0-9, got ${String(digit)}`);
  }
  await requireDirectory(root, 'MNIST folder');
  const items: IdxDatasetItem[] = [];
  const add = (split: Split, images: IdxImages, labels: Uint8Array, normalOnly: boolean): void => {
    const width = String(images.count - 1).length;
    for (let index = 0; index < images.count; index++) {
      const classLabel = labels[index];
      if (normalOnly && classLabel !== digit) continue;
      const item: IdxDatasetItem = {
        relPath: `${split}/${classLabel}/${String(index).padStart(width, '0')}`,
        images,
        index,
        classLabel,
        label: classLabel === digit ? 0 : 1,
        split,
      };
      if (item.label === 1) item.defectType = `digit-${classLabel}`;
      items.push(item);
    }
  };
  const train = await readSplit(root, 'train');
  add('train', train.images, train.labels, true);
  const test = await readSplit(root, 't10k');
  add('test', test.images, test.labels, false);
  items.sort(compareRelPath);
  return { root, layout: 'mnist', items, report: emptyReport() };
}
