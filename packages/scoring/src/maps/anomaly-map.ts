import type { AnomalyMapSpec, PositionStandardization } from '../card/model-card.js';
import { gaussianSmooth } from './gaussian.js';
import { ssimInto } from './ssim.js';

export { ssimMap, type SsimOptions } from './ssim.js';

export type ChannelReduction = AnomalyMapSpec['channelReduction'];

function assertShape(name: string, data: ArrayLike<number>, channels: number, height: number, width: number): void {
  for (const [label, v] of [['channels', channels], ['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${name}: ${label} must be a positive integer, got ${v}`);
  }
  if (data.length !== channels * height * width) {
    throw new RangeError(`${name}: has ${data.length} values but ${channels}x${height}x${width} (CHW) needs ${channels * height * width}`);
  }
}

/** One map (height x width) from a CHW array by mean, max or sum over channels. */
export function reduceChannels(chw: ArrayLike<number>, channels: number, height: number, width: number, reduction: ChannelReduction): Float32Array {
  assertShape('reduceChannels', chw, channels, height, width);
  const plane = height * width;
  const out = new Float32Array(plane);
  if (reduction !== 'mean' && reduction !== 'max' && reduction !== 'sum') {
    throw new RangeError(`channelReduction must be 'mean', 'max' or 'sum', got ${String(reduction)}`);
  }
  for (let i = 0; i < plane; i++) {
    let acc = reduction === 'max' ? -Infinity : 0;
    for (let c = 0; c < channels; c++) {
      const v = chw[c * plane + i];
      acc = reduction === 'max' ? (v > acc ? v : acc) : acc + v;
    }
    out[i] = reduction === 'mean' ? acc / channels : acc;
  }
  return out;
}

/**
 * The pixel anomaly map (height x width) the card's AnomalyMapSpec describes:
 * - 'squared' / 'absolute': (x - r)^2 or |x - r| per channel, then channel reduction;
 * - 'ssim': 1 - SSIM per channel (window ssimWindowSize/ssimSigma, dynamic range ssimDynamicRange), then reduction;
 * - 'model-output': `reconstruction` is the model's own map (CHW), `input` is ignored; only reduction.
 * Then Gaussian smoothing with spec.smoothingSigma (0 = none).
 * input and reconstruction are CHW float32 in the model's normalized space.
 */
export function anomalyMap(
  input: Float32Array,
  reconstruction: Float32Array,
  channels: number,
  height: number,
  width: number,
  spec: AnomalyMapSpec,
): Float32Array {
  assertShape('anomalyMap(reconstruction)', reconstruction, channels, height, width);
  const plane = height * width;
  let perChannel: Float32Array;
  switch (spec.kind) {
    case 'squared':
    case 'absolute': {
      assertShape('anomalyMap(input)', input, channels, height, width);
      perChannel = new Float32Array(channels * plane);
      for (let i = 0; i < perChannel.length; i++) {
        const d = input[i] - reconstruction[i];
        perChannel[i] = spec.kind === 'squared' ? d * d : Math.abs(d);
      }
      break;
    }
    case 'ssim': {
      assertShape('anomalyMap(input)', input, channels, height, width);
      perChannel = new Float32Array(channels * plane);
      for (let c = 0; c < channels; c++) {
        // 1 - SSIM written straight into the channel's plane (same numbers as 1 - ssimMap(...)).
        ssimInto(perChannel, c * plane, true, input.subarray(c * plane, (c + 1) * plane), reconstruction.subarray(c * plane, (c + 1) * plane), height, width, {
          windowSize: spec.ssimWindowSize,
          sigma: spec.ssimSigma,
          dynamicRange: spec.ssimDynamicRange,
        });
      }
      break;
    }
    case 'model-output':
      perChannel = reconstruction;
      break;
    default:
      throw new RangeError(`anomaly map kind must be 'squared', 'absolute', 'ssim' or 'model-output', got ${String((spec as { kind: unknown }).kind)}`);
  }
  // One channel: mean and sum over it are the values themselves, so the freshly computed residual
  // plane is the map (no copy). 'max' keeps reduceChannels (its NaN handling), and a model's own
  // map is copied there, since standardization below works in place.
  const reduced =
    channels === 1 && spec.kind !== 'model-output' && (spec.channelReduction === 'mean' || spec.channelReduction === 'sum')
      ? perChannel
      : reduceChannels(perChannel, channels, height, width, spec.channelReduction);
  if (spec.positionStandardization) standardizePositions(reduced, height, width, spec.positionStandardization);
  return spec.smoothingSigma > 0 ? gaussianSmooth(reduced, height, width, spec.smoothingSigma) : reduced;
}

/** In place: map[p] = (map[p] - mean[p]) / scale[p]. The statistics must be at the map's resolution. */
export function standardizePositions(map: Float32Array, height: number, width: number, stats: PositionStandardization): Float32Array {
  if (stats.width !== width || stats.height !== height) {
    throw new RangeError(`position standardization is fitted for ${stats.width}x${stats.height} maps, this map is ${width}x${height}`);
  }
  const { mean, scale } = stats;
  if (mean.length !== map.length || scale.length !== map.length) {
    throw new RangeError(`position standardization needs ${map.length} means and scales, has ${mean.length} and ${scale.length}`);
  }
  for (let p = 0; p < map.length; p++) map[p] = (map[p] - mean[p]) / scale[p];
  return map;
}

/**
 * Fits per-position mean and scale on the maps of normal images (all height x width, taken before
 * standardization). scale = std + floorFraction * mean(std): the floor keeps near-constant
 * positions from turning rounding noise into huge z values.
 */
export function fitPositionStandardization(
  maps: readonly Float32Array[],
  height: number,
  width: number,
  fittedOn: string,
  floorFraction = 0.1,
): PositionStandardization {
  if (maps.length < 2) throw new RangeError(`fitPositionStandardization: needs at least 2 normal maps, got ${maps.length}`);
  if (!(floorFraction >= 0) || !Number.isFinite(floorFraction)) throw new RangeError(`fitPositionStandardization: floorFraction must be >= 0, got ${floorFraction}`);
  const n = height * width;
  const sum = new Float64Array(n);
  for (const map of maps) {
    if (map.length !== n) throw new RangeError(`fitPositionStandardization: every map must have ${height}x${width} = ${n} values, one has ${map.length}`);
    for (let p = 0; p < n; p++) sum[p] += map[p];
  }
  const mean = Array.from(sum, (s) => s / maps.length);
  const squares = new Float64Array(n);
  for (const map of maps) {
    for (let p = 0; p < n; p++) {
      const d = map[p] - mean[p];
      squares[p] += d * d;
    }
  }
  const std = Array.from(squares, (s) => Math.sqrt(s / maps.length));
  const floor = floorFraction * (std.reduce((a, b) => a + b, 0) / n);
  const scale = std.map((s) => s + floor);
  if (scale.some((s) => !(s > 0))) throw new RangeError('fitPositionStandardization: the maps do not vary at some position and floorFraction is 0; use a floor > 0');
  return { width, height, mean, scale, fittedOn };
}

export interface McDropoutStatistics {
  /** Mean of the N reconstructions, CHW. */
  meanReconstruction: Float32Array;
  /** Per-pixel variance over the N passes (population, divide by N), reduced over channels: height x width. */
  variance: Float32Array;
}

/** Per-pixel mean and variance of N stochastic reconstructions (MC-Dropout), each CHW. */
export function mcDropoutStatistics(
  reconstructions: readonly Float32Array[],
  channels: number,
  height: number,
  width: number,
  reduction: ChannelReduction = 'mean',
): McDropoutStatistics {
  if (!Array.isArray(reconstructions) || reconstructions.length === 0) throw new RangeError('mcDropoutStatistics: needs at least one reconstruction');
  reconstructions.forEach((r, k) => assertShape(`mcDropoutStatistics(reconstructions[${k}])`, r, channels, height, width));
  const size = channels * height * width;
  const mean = new Float64Array(size);
  const m2 = new Float64Array(size);
  // Welford's update: stable for many passes with a small spread.
  reconstructions.forEach((r, k) => {
    const count = k + 1;
    for (let i = 0; i < size; i++) {
      const delta = r[i] - mean[i];
      mean[i] += delta / count;
      m2[i] += delta * (r[i] - mean[i]);
    }
  });
  const n = reconstructions.length;
  const variance = new Float32Array(size);
  for (let i = 0; i < size; i++) variance[i] = m2[i] / n;
  return { meanReconstruction: Float32Array.from(mean), variance: reduceChannels(variance, channels, height, width, reduction) };
}
