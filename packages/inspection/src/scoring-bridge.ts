/**
 * The one place this package takes scoring functions from. INTERIM: @residuum/scoring is
 * being written in parallel; the functions below that it does not export yet are minimal
 * local stand-ins with the agreed names and signatures, to be replaced by re-exports.
 */
import type { AnomalyMapSpec, CalibrationStats, ImageScoreSpec } from '@residuum/scoring';

export { preprocessImage, resizeMap, ModelCardError, modelCardFromMetadata } from '@residuum/scoring';

/** INTERIM stand-in for scoring's anomalyMap (squared / absolute, channel reduction, no smoothing/SSIM). */
export function anomalyMap(
  input: Float32Array,
  reconstruction: Float32Array,
  channels: number,
  height: number,
  width: number,
  spec: AnomalyMapSpec,
): Float32Array {
  if (spec.kind !== 'squared' && spec.kind !== 'absolute') {
    throw new Error(`anomaly map kind '${spec.kind}' is not available yet (waiting for @residuum/scoring)`);
  }
  if (spec.smoothingSigma > 0) throw new Error('map smoothing is not available yet (waiting for @residuum/scoring)');
  const plane = height * width;
  const map = new Float32Array(plane);
  if (spec.channelReduction === 'max') map.fill(-Infinity);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) {
      const diff = input[c * plane + i] - reconstruction[c * plane + i];
      const residual = spec.kind === 'squared' ? diff * diff : Math.abs(diff);
      if (spec.channelReduction === 'max') map[i] = Math.max(map[i], residual);
      else map[i] += residual;
    }
  }
  if (spec.channelReduction === 'mean') for (let i = 0; i < plane; i++) map[i] /= channels;
  return map;
}

/** INTERIM stand-in for scoring's imageScore. */
export function imageScore(map: Float32Array, spec: ImageScoreSpec): number {
  if (spec.kind === 'mean') {
    let sum = 0;
    for (let i = 0; i < map.length; i++) sum += map[i];
    return sum / map.length;
  }
  if (spec.kind === 'max') {
    let max = -Infinity;
    for (let i = 0; i < map.length; i++) max = Math.max(max, map[i]);
    return max;
  }
  const k = Math.max(1, Math.round((spec.topKFraction ?? 0.01) * map.length));
  const sorted = Float32Array.from(map).sort();
  let sum = 0;
  for (let i = sorted.length - k; i < sorted.length; i++) sum += sorted[i];
  return sum / k;
}

/** INTERIM stand-in for scoring's normalizeScore (calibration.min -> 0, threshold -> 0.5, upper anchor -> 1). */
export function normalizeScore(score: number, threshold: number, calibration: CalibrationStats): number {
  const low = Math.min(calibration.min, threshold);
  const high = Math.max(calibration.max, threshold + (threshold - low));
  let value: number;
  if (score <= threshold) value = threshold > low ? (0.5 * (score - low)) / (threshold - low) : score < threshold ? 0 : 0.5;
  else value = high > threshold ? 0.5 + (0.5 * (score - threshold)) / (high - threshold) : 1;
  return Math.min(1, Math.max(0, value));
}

/** INTERIM stand-in for scoring's per-pixel variance over N reconstructions (mean over channels). */
export function varianceMap(
  reconstructions: readonly Float32Array[],
  channels: number,
  height: number,
  width: number,
): Float32Array {
  const plane = height * width;
  const count = reconstructions.length;
  const out = new Float32Array(plane);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) {
      let sum = 0;
      let sumSquares = 0;
      for (const reconstruction of reconstructions) {
        const value = reconstruction[c * plane + i];
        sum += value;
        sumSquares += value * value;
      }
      const mean = sum / count;
      out[i] += Math.max(0, sumSquares / count - mean * mean) / channels;
    }
  }
  return out;
}
