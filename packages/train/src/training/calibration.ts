/**
 * Calibration after training: every validation (normal) image is scored exactly as the runtimes
 * will score it -- @residuum/scoring's anomalyMap + imageScore per the card's ScoreSpec -- and
 * the score statistics and the default threshold go into the model card.
 */
import * as tf from '@tensorflow/tfjs';
import {
  anomalyMap,
  calibrationStats,
  imageScore,
  meanStdThreshold,
  quantileThreshold,
  targetFprThreshold,
  type CalibrationStats,
  type ScoreSpec,
  type ThresholdSpec,
} from '@residuum/scoring';
import type { NhwcBatch } from './data.js';

export type ThresholdOption =
  | { method: 'quantile'; q?: number }
  | { method: 'mean-std'; k?: number }
  | { method: 'target-fpr'; fpr?: number };

export const DEFAULT_THRESHOLD: ThresholdOption = { method: 'mean-std', k: 3 }; // measured: models/README.md, threshold policies

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

function chwOf(nhwc: Float32Array, offset: number, channels: number, height: number, width: number): Float32Array {
  const plane = height * width;
  const out = new Float32Array(channels * plane);
  if (channels === 1) {
    out.set(nhwc.subarray(offset, offset + plane));
    return out;
  }
  for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) out[c * plane + p] = nhwc[offset + p * channels + c];
  return out;
}

/** Image scores of every image, from the model's deterministic reconstruction; `onMap` sees each anomaly map. */
export async function scoreImages(
  model: tf.LayersModel,
  batches: AsyncIterable<NhwcBatch>,
  shape: { height: number; width: number; channels: number },
  score: ScoreSpec,
  onMap?: (map: Float32Array) => void,
): Promise<number[]> {
  const { height, width, channels } = shape;
  const imageSize = height * width * channels;
  const scores: number[] = [];
  for await (const batch of batches) {
    const x = tf.tensor4d(batch.data, [batch.count, height, width, channels]);
    const outputs = model.predict(x) as tf.Tensor | tf.Tensor[];
    const reconstruction = Array.isArray(outputs) ? outputs[0] : outputs;
    const recon = (await reconstruction.data()) as Float32Array;
    tf.dispose([x, outputs]);
    for (let i = 0; i < batch.count; i++) {
      const input = chwOf(batch.data, i * imageSize, channels, height, width);
      const output = chwOf(recon, i * imageSize, channels, height, width);
      const map = anomalyMap(input, output, channels, height, width, score.map);
      onMap?.(map);
      scores.push(imageScore(map, score.image));
    }
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
