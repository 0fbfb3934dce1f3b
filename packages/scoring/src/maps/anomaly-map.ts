import type { AnomalyMapSpec, PositionStandardization } from '../card/model-card.js';
import { gaussianKernel, gaussianSmooth, reflectIndices } from './gaussian.js';

export type ChannelReduction = AnomalyMapSpec['channelReduction'];

export interface SsimOptions {
  /** Gaussian window size (odd), default 11. */
  windowSize?: number;
  /** Gaussian window sigma, default 1.5. */
  sigma?: number;
  /** Dynamic range L of the values; c1 = (0.01 L)^2, c2 = (0.03 L)^2. Default 1. */
  dynamicRange?: number;
}

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
 * Per-pixel SSIM of two single-channel planes with a Gaussian window (Wang et al. 2004, as used
 * by Bergmann et al.'s AE-SSIM): local means, variances and covariance are Gaussian-weighted
 * (population form, no N/(N-1) correction), borders reflect (scipy 'reflect').
 */
export function ssimMap(a: ArrayLike<number>, b: ArrayLike<number>, height: number, width: number, options: SsimOptions = {}): Float32Array {
  assertShape('ssimMap(a)', a, 1, height, width);
  assertShape('ssimMap(b)', b, 1, height, width);
  const windowSize = options.windowSize ?? 11;
  const sigma = options.sigma ?? 1.5;
  const range = options.dynamicRange ?? 1;
  if (!Number.isInteger(windowSize) || windowSize < 1 || windowSize % 2 === 0) throw new RangeError(`ssim window size must be an odd positive integer, got ${windowSize}`);
  if (!(range > 0)) throw new RangeError(`ssim dynamic range must be > 0, got ${range}`);
  const kernel = gaussianKernel(sigma, (windowSize - 1) / 2);
  const n = height * width;
  const c1 = (0.01 * range) ** 2;
  const c2 = (0.03 * range) ** 2;
  // The five local moments (means of a, b, a^2, b^2, ab) in one fused separable pass over Float64
  // copies: one gather per tap instead of five filter calls on mixed array types (~4x faster,
  // which matters because SSIM scoring otherwise rivals inference time on line PCs).
  const pa = Float64Array.from(a);
  const pb = Float64Array.from(b);
  const radius = (kernel.length - 1) / 2;
  const xIndex = reflectIndices(width, radius);
  const yIndex = reflectIndices(height, radius);
  const hA = new Float64Array(n);
  const hB = new Float64Array(n);
  const hAA = new Float64Array(n);
  const hBB = new Float64Array(n);
  const hAB = new Float64Array(n);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let sA = 0;
      let sB = 0;
      let sAA = 0;
      let sBB = 0;
      let sAB = 0;
      for (let k = 0; k < kernel.length; k++) {
        const i = row + xIndex[x + k];
        const w = kernel[k];
        const va = pa[i];
        const vb = pb[i];
        const wa = w * va;
        const wb = w * vb;
        sA += wa;
        sB += wb;
        sAA += wa * va;
        sBB += wb * vb;
        sAB += wa * vb;
      }
      const o = row + x;
      hA[o] = sA;
      hB[o] = sB;
      hAA[o] = sAA;
      hBB[o] = sBB;
      hAB[o] = sAB;
    }
  }
  const muA = new Float64Array(width);
  const muB = new Float64Array(width);
  const eAA = new Float64Array(width);
  const eBB = new Float64Array(width);
  const eAB = new Float64Array(width);
  const out = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    muA.fill(0);
    muB.fill(0);
    eAA.fill(0);
    eBB.fill(0);
    eAB.fill(0);
    for (let k = 0; k < kernel.length; k++) {
      const w = kernel[k];
      const src = yIndex[y + k] * width;
      for (let x = 0; x < width; x++) {
        const i = src + x;
        muA[x] += w * hA[i];
        muB[x] += w * hB[i];
        eAA[x] += w * hAA[i];
        eBB[x] += w * hBB[i];
        eAB[x] += w * hAB[i];
      }
    }
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const ma = muA[x];
      const mb = muB[x];
      const varA = eAA[x] - ma * ma;
      const varB = eBB[x] - mb * mb;
      const cov = eAB[x] - ma * mb;
      out[row + x] = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (varA + varB + c2));
    }
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
        const s = ssimMap(input.subarray(c * plane, (c + 1) * plane), reconstruction.subarray(c * plane, (c + 1) * plane), height, width, {
          windowSize: spec.ssimWindowSize,
          sigma: spec.ssimSigma,
          dynamicRange: spec.ssimDynamicRange,
        });
        for (let i = 0; i < plane; i++) perChannel[c * plane + i] = 1 - s[i];
      }
      break;
    }
    case 'model-output':
      perChannel = reconstruction;
      break;
    default:
      throw new RangeError(`anomaly map kind must be 'squared', 'absolute', 'ssim' or 'model-output', got ${String((spec as { kind: unknown }).kind)}`);
  }
  const reduced = reduceChannels(perChannel, channels, height, width, spec.channelReduction);
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
