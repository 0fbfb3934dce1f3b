import { preprocessImage, type PreprocessingSpec, type RawImage } from '@residuum/scoring';
import { chwToHwc, decodeImage, maskFromImage, type TensorLayout } from '../decode.js';
import { ImageDecodeError, type ImageDecodeFailure } from '../errors.js';
import { isFileItem, type DatasetItem } from './types.js';

export interface BatchOptions {
  /** Images per batch (the last batch may be smaller). */
  batchSize: number;
  /** 'throw' (default): the first bad image aborts with its ImageDecodeError; 'skip': it is reported and left out. */
  onError?: 'throw' | 'skip';
  /** 'NCHW' (default, ONNX) or 'NHWC' (TF.js). */
  layout?: TensorLayout;
  /** Also load each item's ground-truth mask at the model size (MVTec layout). */
  withMasks?: boolean;
  /** Images decoded ahead of the consumer (default 8). */
  prefetch?: number;
}

export interface SkippedItem<Item> {
  item: Item;
  failure: ImageDecodeFailure;
  /** The error message, naming the file. */
  reason: string;
}

export interface ImageBatch<Item> {
  /** items.length x C x H x W (or x H x W x C) float32, preprocessed per the spec. */
  tensors: Float32Array;
  items: Item[];
  /**
   * With withMasks: one 0/1 mask of spec.height x spec.width per item; all zeros for normal items,
   * undefined for an anomalous item that has no mask.
   */
  masks?: Array<Uint8Array | undefined>;
  /** Items left out while this batch was assembled (onError 'skip'). */
  skipped: Array<SkippedItem<Item>>;
}

/** The whole run: every skipped item, also those after the last full batch. */
export interface BatchRunReport<Item> {
  imageCount: number;
  skipped: Array<SkippedItem<Item>>;
  /** False until the stream has been read to its end. */
  complete: boolean;
}

type Loaded<Item> =
  | { ok: true; item: Item; tensor: Float32Array; mask?: Uint8Array }
  | { ok: false; item: Item; error: ImageDecodeError };

function rawFromIdx(item: Extract<DatasetItem, { images: unknown }>): RawImage {
  const { images, index } = item;
  const size = images.width * images.height;
  return { data: images.data.subarray(index * size, (index + 1) * size), width: images.width, height: images.height, channels: 1 };
}

async function loadItem<Item extends DatasetItem>(item: Item, spec: PreprocessingSpec, withMasks: boolean): Promise<Loaded<Item>> {
  try {
    const raw = isFileItem(item) ? await decodeImage(item.path) : rawFromIdx(item);
    const tensor = preprocessImage(raw, spec);
    let mask: Uint8Array | undefined;
    if (withMasks) {
      if (isFileItem(item) && item.maskPath !== undefined) {
        const maskImage = await decodeImage(item.maskPath);
        if (maskImage.width !== raw.width || maskImage.height !== raw.height) {
          throw new ImageDecodeError(
            item.maskPath,
            'corrupt',
            `mask is ${maskImage.width}x${maskImage.height} but its image ${item.relPath} is ${raw.width}x${raw.height}`,
          );
        }
        mask = maskFromImage(maskImage, spec.width, spec.height, spec.resize);
      } else if (item.label === 0) {
        mask = new Uint8Array(spec.width * spec.height);
      }
    }
    return { ok: true, item, tensor, mask };
  } catch (error) {
    if (error instanceof ImageDecodeError) return { ok: false, item, error };
    const source = isFileItem(item) ? item.path : item.relPath;
    return { ok: false, item, error: new ImageDecodeError(source, 'corrupt', (error as Error).message) };
  }
}

/**
 * Streams preprocessed batches: images are decoded a few at a time ahead of the consumer, so a
 * large folder is never held in memory at once. With onError 'skip', a bad image is left out,
 * listed in its batch's `skipped` and in `report()`, and the batch is filled from the next items.
 */
export class ImageBatchStream<Item extends DatasetItem> implements AsyncIterable<ImageBatch<Item>> {
  private readonly runReport: BatchRunReport<Item> = { imageCount: 0, skipped: [], complete: false };
  private started = false;

  constructor(
    private readonly items: readonly Item[],
    private readonly spec: PreprocessingSpec,
    private readonly options: Required<Omit<BatchOptions, 'withMasks'>> & { withMasks: boolean },
  ) {}

  /** Counts and every skipped item so far; `complete` once the stream is exhausted. */
  report(): BatchRunReport<Item> {
    return { ...this.runReport, skipped: [...this.runReport.skipped] };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ImageBatch<Item>, void, undefined> {
    if (this.started) throw new Error('ImageBatchStream can be iterated once; call batches() again for another pass');
    this.started = true;
    const { batchSize, onError, layout, withMasks, prefetch } = this.options;
    const { channels, height, width } = this.spec;
    const imageSize = channels * height * width;
    const pending: Array<Promise<Loaded<Item>>> = [];
    let next = 0;
    const fill = (): void => {
      while (pending.length < prefetch && next < this.items.length) {
        pending.push(loadItem(this.items[next++], this.spec, withMasks));
      }
    };
    let batch: Array<Extract<Loaded<Item>, { ok: true }>> = [];
    let skipped: Array<SkippedItem<Item>> = [];
    const emit = (): ImageBatch<Item> => {
      const tensors = new Float32Array(batch.length * imageSize);
      batch.forEach((loaded, i) => {
        const image = layout === 'NHWC' ? chwToHwc(loaded.tensor, channels, height, width) : loaded.tensor;
        tensors.set(image, i * imageSize);
      });
      const out: ImageBatch<Item> = { tensors, items: batch.map((l) => l.item), skipped };
      if (withMasks) out.masks = batch.map((l) => l.mask);
      this.runReport.imageCount += batch.length;
      batch = [];
      skipped = [];
      return out;
    };
    fill();
    while (pending.length > 0) {
      const loaded = await pending.shift()!;
      fill();
      if (!loaded.ok) {
        if (onError === 'throw') throw loaded.error;
        const entry = { item: loaded.item, failure: loaded.error.failure, reason: loaded.error.message };
        skipped.push(entry);
        this.runReport.skipped.push(entry);
        continue;
      }
      batch.push(loaded);
      if (batch.length === batchSize) yield emit();
    }
    if (batch.length > 0) yield emit();
    this.runReport.complete = true;
  }
}

/** Preprocessed batches of `items` per the model's spec; see ImageBatchStream. */
export function batches<Item extends DatasetItem>(
  items: readonly Item[],
  spec: PreprocessingSpec,
  options: BatchOptions,
): ImageBatchStream<Item> {
  if (!Array.isArray(items)) throw new TypeError('batches: items must be an array of dataset items');
  const { batchSize, onError = 'throw', layout = 'NCHW', withMasks = false, prefetch = 8 } = options ?? {};
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`batches: batchSize must be a positive integer, got ${batchSize}`);
  if (onError !== 'throw' && onError !== 'skip') throw new RangeError(`batches: onError must be 'throw' or 'skip', got ${String(onError)}`);
  if (layout !== 'NCHW' && layout !== 'NHWC') throw new RangeError(`batches: layout must be 'NCHW' or 'NHWC', got ${String(layout)}`);
  if (!Number.isInteger(prefetch) || prefetch <= 0) throw new RangeError(`batches: prefetch must be a positive integer, got ${prefetch}`);
  return new ImageBatchStream(items, spec, { batchSize, onError, layout, withMasks, prefetch });
}
