/**
 * Calibration after training: every validation (normal) image is scored exactly as the runtimes
 * will score it -- the model's outputs of every MC-Dropout pass, with the runtimes' own seeded
 * masks, through @residuum/scoring's scoreImageOutputs per the card -- and the score statistics
 * and the default threshold go into the model card.
 */
import * as tf from '@tensorflow/tfjs';
import {
  calibrationStats,
  createPassMasks,
  mcPassCount,
  meanStdThreshold,
  quantileThreshold,
  scoreImageOutputs,
  targetFprThreshold,
  type CalibrationStats,
  type ModelCard,
  type ModelInputImage,
  type OutputSpec,
  type PassOutputs,
  type ScoringCard,
  type ThresholdSpec,
} from '@residuum/scoring';
import { supplyMcDropoutMasks } from '../layers/mc-dropout.js';
import type { NhwcBatch } from './data.js';

export type ThresholdOption =
  | { method: 'quantile'; q?: number }
  | { method: 'mean-std'; k?: number }
  | { method: 'target-fpr'; fpr?: number };

export const DEFAULT_THRESHOLD: ThresholdOption = { method: 'quantile', q: 0.99 };

/** Parses the CLI form: 'quantile[:q]', 'mean-std[:k]', 'target-fpr[:fpr]'. */
export function parseThresholdOption(text: string): ThresholdOption {
  const [method, rawValue] = text.split(':');
  const value = rawValue === undefined ? undefined : Number(rawValue);
  if (value !== undefined && !Number.isFinite(value)) throw new Error(`threshold '${text}': '${rawValue}' is not a number`);
  switch (method) {
    case 'quantile':
      return { method, q: value };
    case 'mean-std':
      return { method, k: value };
    case 'target-fpr':
      return { method, fpr: value };
    default:
      throw new Error(`threshold '${text}': method must be quantile[:q], mean-std[:k] or target-fpr[:fpr]`);
  }
}

/** Image `index` of an NHWC batch as the runtimes' model input (CHW). */
export function chwImage(nhwc: Float32Array, index: number, shape: ImageShape): ModelInputImage {
  const { channels, height, width } = shape;
  const plane = height * width;
  const offset = index * plane * channels;
  const data = new Float32Array(channels * plane);
  if (channels === 1) data.set(nhwc.subarray(offset, offset + plane));
  else for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) data[c * plane + p] = nhwc[offset + p * channels + c];
  return { data, channels, height, width };
}

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

/**
 * One pass of a batch, per image, as the runtimes receive it from the exported graph: model
 * output i is card output i (the converter checks that order), NHWC maps become CHW, the batch
 * axis goes.
 */
async function passOutputsOf(outputs: readonly tf.Tensor[], specs: readonly OutputSpec[], count: number): Promise<PassOutputs[]> {
  if (outputs.length !== specs.length) throw new Error(`the model has ${outputs.length} outputs, the card names ${specs.length}`);
  const rows: PassOutputs[] = Array.from({ length: count }, () => ({}));
  for (const [k, tensor] of outputs.entries()) {
    const chw = tensor.rank === 4 ? tf.transpose(tensor, [0, 3, 1, 2]) : tensor;
    const data = (await chw.data()) as Float32Array;
    if (chw !== tensor) chw.dispose();
    const dims = tensor.rank === 4 ? [tensor.shape[3], tensor.shape[1], tensor.shape[2]] : tensor.shape.slice(1);
    const size = data.length / count;
    rows.forEach((row, i) => (row[specs[k].name] = { data: data.slice(i * size, (i + 1) * size), dims: dims as number[] }));
  }
  return rows;
}

/**
 * Image scores of every image through @residuum/scoring's scoreImageOutputs, from the model's
 * outputs of card.mcDropout.samples passes (with the runtimes' masks, from the card's seed; one
 * deterministic pass without MC-Dropout). `onMap` sees each anomaly map and its image index.
 */
export async function scoreImages(
  model: tf.LayersModel,
  batches: AsyncIterable<NhwcBatch>,
  shape: ImageShape,
  card: ScoringCard & Pick<ModelCard, 'mcDropout'>,
  onMap?: (map: Float32Array, index: number) => void,
): Promise<number[]> {
  const { height, width, channels } = shape;
  const passes = mcPassCount(card);
  const passMasks = createPassMasks(card, passes);
  const maskInputs = card.mcDropout?.maskInputs ?? [];
  const scores: number[] = [];
  try {
    for await (const batch of batches) {
      const x = tf.tensor4d(batch.data.subarray(0, batch.count * height * width * channels), [batch.count, height, width, channels]);
      const perImage: PassOutputs[][] = Array.from({ length: batch.count }, () => []);
      for (let pass = 0; pass < passes; pass++) {
        const masks = passes > 1 ? supplyMcDropoutMasks(model, maskInputs.map((mask) => ({ ...passMasks(pass)[mask.name], rate: mask.rate }))) : [];
        const predicted = model.predict(x) as tf.Tensor | tf.Tensor[];
        const outputs = Array.isArray(predicted) ? predicted : [predicted];
        const rows = await passOutputsOf(outputs, card.outputs, batch.count);
        tf.dispose([...outputs, ...masks]);
        rows.forEach((row, i) => perImage[i].push(row));
      }
      x.dispose();
      perImage.forEach((imagePasses, i) => {
        const { map, score } = scoreImageOutputs(card, chwImage(batch.data, i, shape), imagePasses);
        onMap?.(map, scores.length);
        scores.push(score);
      });
    }
  } finally {
    if (passes > 1) supplyMcDropoutMasks(model, null);
  }
  return scores;
}

/** The default threshold from normal scores only, by @residuum/scoring (score >= threshold is anomalous). */
export function fitThreshold(scores: readonly number[], option: ThresholdOption, source: string): ThresholdSpec {
  if (scores.length === 0) throw new Error('cannot fit a threshold: no calibration scores (empty validation set)');
  const bad = scores.findIndex((s) => !Number.isFinite(s));
  if (bad >= 0) throw new Error(`cannot fit a threshold: calibration score ${bad} is ${scores[bad]} (did training diverge?)`);
  switch (option.method) {
    case 'quantile':
      return quantileThreshold(scores, option.q ?? 0.99, source);
    case 'mean-std':
      return meanStdThreshold(scores, option.k ?? 3, source);
    case 'target-fpr':
      return targetFprThreshold(scores, option.fpr ?? 0.01, 'image', source);
    default:
      throw new Error(`unknown threshold method '${String((option as { method?: unknown }).method)}' (quantile, mean-std, target-fpr)`);
  }
}

/** Share of good pixels above calibration.pixelThreshold (the seed's DFR segmentation threshold: 5 %). */
export const DEFAULT_PIXEL_FPR = 0.05;

/** Collects the anomaly maps of the calibration images for the pixel threshold. */
export class GoodPixels {
  private readonly maps: Float32Array[] = [];
  readonly add = (map: Float32Array): void => {
    this.maps.push(map);
  };
  get count(): number {
    return this.maps.reduce((n, map) => n + map.length, 0);
  }
  values(): Float32Array {
    const all = new Float32Array(this.count);
    let offset = 0;
    for (const map of this.maps) {
      all.set(map, offset);
      offset += map.length;
    }
    return all;
  }
}

/**
 * Image threshold and score statistics from normal scores; with the maps of the same images, also
 * calibration.pixelThreshold at `pixelFpr` of good pixels (runtimes scale heatmaps to it, so a good
 * part looks cool and a defect hot, instead of every map stretched to its own maximum).
 */
export function calibrate(
  scores: readonly number[],
  option: ThresholdOption,
  source: string,
  goodPixels?: GoodPixels,
  pixelFpr = DEFAULT_PIXEL_FPR,
): { calibration: CalibrationStats; threshold: ThresholdSpec } {
  const threshold = fitThreshold(scores, option, source);
  const calibration = calibrationStats(scores);
  if (goodPixels && goodPixels.count > 0) calibration.pixelThreshold = targetFprThreshold(goodPixels.values(), pixelFpr, 'pixel', 'good validation pixels').value;
  return { calibration, threshold };
}
