/**
 * Where training images come from: a dataset folder read by @residuum/imaging (streamed in
 * batches, preprocessed by @residuum/scoring's preprocessImage, exactly as at inference) or,
 * for tests and embedding, in-memory RawImages through the same preprocessImage.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import {
  batches,
  fingerprintFiles,
  readFolderDataset,
  readMnist,
  readMvtec,
  splitTrainValidation,
  type DatasetItem,
  type ImageBatchStream,
} from '@residuum/imaging';
import { preprocessImage, type PreprocessingSpec, type RawImage } from '@residuum/scoring';
import { createHash } from 'node:crypto';
import { createRandom, shuffled } from '../random.js';

/** NHWC float32 images, `count` of them. */
export interface NhwcBatch {
  data: Float32Array;
  count: number;
}

export interface TrainingDataSource {
  /** Human-readable origin for the card, e.g. "folder ../casting: train/ok_front". */
  description: string;
  trainCount: number;
  validationCount: number;
  /** sha256 of the normal images used (training and validation). */
  fingerprint(): Promise<string>;
  /** Shuffled per epoch (seeded); the last batch may be smaller. */
  trainBatches(batchSize: number, epoch: number): AsyncIterable<NhwcBatch>;
  /** In a fixed order. */
  validationBatches(batchSize: number): AsyncIterable<NhwcBatch>;
  /** Files left out because they could not be decoded ('path: reason'), so far. */
  skipped(): string[];
}

/** How many unreadable images a log line names (the rest are counted). */
const UNREADABLE_NAMED = 5;

export type DatasetLayout = 'mvtec' | 'folder' | 'mnist';

export interface DatasetSourceOptions {
  root: string;
  /** Default: 'mvtec' when ROOT/train/good exists, 'mnist' when ROOT holds IDX files, else 'folder'. */
  layout?: DatasetLayout;
  /** Folder layout: the normal training folders (relative to root). */
  normalDirs?: string[];
  /** MNIST layout: the normal digit. */
  normalDigit?: number;
  preprocessing: PreprocessingSpec;
  validationFraction: number;
  seed: number;
  /** Where the note about unreadable images goes (default: nowhere). */
  log?: (line: string) => void;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export async function detectLayout(root: string): Promise<DatasetLayout> {
  if (await exists(join(root, 'train', 'good'))) return 'mvtec';
  for (const name of ['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte', 'train-images.idx3-ubyte']) {
    if (await exists(join(root, name))) return 'mnist';
  }
  return 'folder';
}

async function normalTrainItems(options: DatasetSourceOptions, layout: DatasetLayout): Promise<{ items: DatasetItem[]; description: string }> {
  switch (layout) {
    case 'mvtec': {
      const dataset = await readMvtec(options.root);
      return { items: dataset.items.filter((i) => i.split === 'train' && i.label === 0), description: `mvtec ${options.root}: train/good` };
    }
    case 'folder': {
      const dirs = options.normalDirs ?? [];
      if (dirs.length === 0) {
        throw new Error(`folder layout needs the normal training folder(s) (--normal-dir), e.g. train/ok_front for ${options.root}`);
      }
      const dataset = await readFolderDataset(options.root, { trainNormalDirs: dirs, optionNames: { trainNormalDirs: '--normal-dir' } });
      return { items: dataset.items.filter((i) => i.split === 'train' && i.label === 0), description: `folder ${options.root}: ${dirs.join(', ')}` };
    }
    case 'mnist': {
      const digit = options.normalDigit ?? (options.normalDirs?.length === 1 ? Number(options.normalDirs[0]) : Number.NaN);
      if (!Number.isInteger(digit)) {
        throw new Error(`mnist layout needs the normal digit (normalDigit, or --normal-dir <0-9>) for ${options.root}`);
      }
      const dataset = await readMnist(options.root, { normalDigit: digit });
      return { items: dataset.items.filter((i) => i.split === 'train' && i.label === 0), description: `mnist ${options.root}: digit ${digit}` };
    }
    default:
      throw new Error(`unknown dataset layout '${String(layout)}' (mvtec, folder, mnist)`);
  }
}

async function* replay(batches: readonly NhwcBatch[]): AsyncGenerator<NhwcBatch> {
  for (const batch of batches) yield batch;
}

/** Normal images of a dataset folder, split into training and validation (seeded). */
export async function createDatasetSource(options: DatasetSourceOptions): Promise<TrainingDataSource> {
  const layout = options.layout ?? (await detectLayout(options.root));
  const listed = await normalTrainItems(options, layout);
  const spec = options.preprocessing;
  // One decoding pass before the split: unreadable images are named once and left out of the
  // train / validation counts, instead of being skipped silently every epoch.
  const check = batches(listed.items, spec, { batchSize: 16, layout: 'NHWC', onError: 'skip' });
  for await (const batch of check) void batch;
  const unreadable = check.report().skipped;
  const bad = new Set(unreadable.map((entry) => entry.item));
  const items = listed.items.filter((item) => !bad.has(item));
  if (unreadable.length > 0) {
    const named = unreadable.slice(0, UNREADABLE_NAMED).map((entry) => entry.reason).join('; ');
    options.log?.(
      `${unreadable.length} of ${listed.items.length} images cannot be read and are left out of training and validation` +
        ` (${unreadable.length > UNREADABLE_NAMED ? `first ${UNREADABLE_NAMED}: ` : ''}${named})`,
    );
  }
  const description = listed.description + (unreadable.length > 0 ? `, ${unreadable.length} unreadable left out` : '');
  if (items.length < 2) throw new Error(`${description}: need at least 2 readable normal training images, found ${items.length}`);
  const split = splitTrainValidation(items, options.validationFraction, options.seed);
  const streams: Array<ImageBatchStream<DatasetItem>> = [];
  const stream = (list: readonly DatasetItem[], batchSize: number): AsyncIterable<NhwcBatch> => {
    const s = batches(list, spec, { batchSize, layout: 'NHWC', onError: 'skip' });
    streams.push(s);
    return (async function* () {
      for await (const batch of s) {
        if (batch.items.length > 0) yield { data: batch.tensors, count: batch.items.length };
      }
    })();
  };
  let validationCache: { batchSize: number; batches: NhwcBatch[] } | null = null;
  return {
    description: `${description} (${split.train.length} train, ${split.validation.length} validation, seed ${options.seed})`,
    trainCount: split.train.length,
    validationCount: split.validation.length,
    fingerprint: () => fingerprintFiles(items),
    trainBatches: (batchSize, epoch) => stream(shuffled(split.train, createRandom(options.seed * 1000 + epoch)), batchSize),
    validationBatches: (batchSize) => {
      // The validation set is small and read every epoch and for calibration: decode it once.
      if (validationCache !== null && validationCache.batchSize === batchSize) return replay(validationCache.batches);
      const cached: NhwcBatch[] = [];
      const source = stream(split.validation, batchSize);
      return (async function* () {
        for await (const batch of source) {
          cached.push(batch);
          yield batch;
        }
        validationCache = { batchSize, batches: cached };
      })();
    },
    skipped: () => {
      const seen = new Set<string>();
      for (const entry of unreadable) seen.add(entry.reason);
      for (const s of streams) for (const entry of s.report().skipped) seen.add(entry.reason);
      return [...seen];
    },
  };
}

function chwToHwc(chw: Float32Array, channels: number, height: number, width: number): Float32Array {
  if (channels === 1) return chw;
  const out = new Float32Array(chw.length);
  const plane = height * width;
  for (let c = 0; c < channels; c++) for (let p = 0; p < plane; p++) out[p * channels + c] = chw[c * plane + p];
  return out;
}

export interface MemorySourceOptions {
  images: RawImage[];
  preprocessing: PreprocessingSpec;
  validationFraction: number;
  seed: number;
  description?: string;
}

/** In-memory normal images (tests, embedding); preprocessed once with scoring's preprocessImage. */
export function createMemorySource(options: MemorySourceOptions): TrainingDataSource {
  const { images, preprocessing: spec } = options;
  if (!Array.isArray(images) || images.length < 2) throw new Error(`memory data source needs at least 2 images, got ${images?.length ?? 0}`);
  if (!(options.validationFraction > 0 && options.validationFraction < 1)) {
    throw new Error(`validationFraction must be in (0, 1), got ${options.validationFraction}`);
  }
  const tensors = images.map((raw) => chwToHwc(preprocessImage(raw, spec), spec.channels, spec.height, spec.width));
  const order = shuffled(
    tensors.map((_, i) => i),
    createRandom(options.seed),
  );
  const validationCount = Math.min(images.length - 1, Math.max(1, Math.round(images.length * options.validationFraction)));
  const validation = order.slice(0, validationCount).sort((a, b) => a - b);
  const train = order.slice(validationCount).sort((a, b) => a - b);
  const imageSize = spec.width * spec.height * spec.channels;
  const batchesOf = (indices: number[], batchSize: number): AsyncIterable<NhwcBatch> =>
    (async function* () {
      for (let start = 0; start < indices.length; start += batchSize) {
        const chunk = indices.slice(start, start + batchSize);
        const data = new Float32Array(chunk.length * imageSize);
        chunk.forEach((index, i) => data.set(tensors[index], i * imageSize));
        yield { data, count: chunk.length };
      }
    })();
  return {
    description: `${options.description ?? 'in-memory images'} (${train.length} train, ${validation.length} validation, seed ${options.seed})`,
    trainCount: train.length,
    validationCount: validation.length,
    fingerprint: async () => {
      const hash = createHash('sha256');
      for (const raw of images) hash.update(`${raw.width}x${raw.height}x${raw.channels}\n`).update(raw.data);
      return hash.digest('hex');
    },
    trainBatches: (batchSize, epoch) => batchesOf(shuffled(train, createRandom(options.seed * 1000 + epoch)), batchSize),
    validationBatches: (batchSize) => batchesOf(validation, batchSize),
    skipped: () => [],
  };
}
