/**
 * Per-pixel SSIM with a Gaussian window, the hot path of CAE scoring on line PCs (a 128x128 map per
 * image). The five local moments (means of a, b, a^2, b^2, ab) are one fused separable pass in
 * Float64. Every sum is accumulated in the same tap order as the plain definition, so the result
 * is bit-identical to the straightforward filter; the speed comes from the loop shape only: the
 * default 11-tap window unrolled (no border index gather in the interior, taps in registers),
 * and scratch buffers reused between calls of the same size.
 */
import { SSIM_DEFAULTS, ssimStabilizers } from '../conventions.js';
import { gaussianKernel, reflectIndices } from './gaussian.js';

export interface SsimOptions {
  /** Gaussian window size (odd), default 11. */
  windowSize?: number;
  /** Gaussian window sigma, default 1.5. */
  sigma?: number;
  /** Dynamic range L of the values; c1 = (0.01 L)^2, c2 = (0.03 L)^2. Default 1. */
  dynamicRange?: number;
}

interface Scratch {
  height: number;
  width: number;
  radius: number;
  /** Horizontal moments, five planes: [m * height * width + y * width + x], m = a, b, aa, bb, ab. */
  moments: Float64Array;
  /** One output row of the vertical pass, five moments: [m * width + x]. */
  rows: Float64Array;
  xIndex: Int32Array;
  yIndex: Int32Array;
}

// One scratch set, reused while the size stays the same (the common case: one model, one size).
// Single-threaded JS: no call can interleave with another, so sharing is safe.
let scratch: Scratch | null = null;

function scratchFor(height: number, width: number, radius: number): Scratch {
  if (scratch && scratch.height === height && scratch.width === width && scratch.radius === radius) return scratch;
  scratch = {
    height,
    width,
    radius,
    moments: new Float64Array(5 * height * width),
    rows: new Float64Array(5 * width),
    xIndex: reflectIndices(width, radius),
    yIndex: reflectIndices(height, radius),
  };
  return scratch;
}

const kernelCache = new Map<string, Float64Array>();

function cachedKernel(sigma: number, radius: number): Float64Array {
  const key = `${sigma}/${radius}`;
  let kernel = kernelCache.get(key);
  if (!kernel) {
    kernel = gaussianKernel(sigma, radius);
    if (kernelCache.size > 16) kernelCache.clear();
    kernelCache.set(key, kernel);
  }
  return kernel;
}

function checkShape(name: string, data: ArrayLike<number>, height: number, width: number): void {
  for (const [label, v] of [['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${name}: ${label} must be a positive integer, got ${v}`);
  }
  if (data.length !== height * width) {
    throw new RangeError(`${name}: has ${data.length} values but 1x${height}x${width} (CHW) needs ${height * width}`);
  }
}

/**
 * Per-pixel SSIM of two single-channel planes with a Gaussian window (Wang et al. 2004, as used
 * by Bergmann et al.'s AE-SSIM): local means, variances and covariance are Gaussian-weighted
 * (population form, no N/(N-1) correction), borders reflect (scipy 'reflect').
 */
export function ssimMap(a: ArrayLike<number>, b: ArrayLike<number>, height: number, width: number, options: SsimOptions = {}): Float32Array {
  const out = new Float32Array(height * width);
  ssimInto(out, 0, false, a, b, height, width, options);
  return out;
}

/**
 * Writes SSIM (or 1 - SSIM when `complement`) of a and b into out[offset .. offset + height*width).
 * The same numbers as `ssimMap`, without its allocations.
 */
export function ssimInto(
  out: Float32Array,
  offset: number,
  complement: boolean,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  height: number,
  width: number,
  options: SsimOptions = {},
): void {
  checkShape('ssimMap(a)', a, height, width);
  checkShape('ssimMap(b)', b, height, width);
  const windowSize = options.windowSize ?? SSIM_DEFAULTS.windowSize;
  const sigma = options.sigma ?? SSIM_DEFAULTS.sigma;
  const range = options.dynamicRange ?? SSIM_DEFAULTS.dynamicRange;
  if (!Number.isInteger(windowSize) || windowSize < 1 || windowSize % 2 === 0) throw new RangeError(`ssim window size must be an odd positive integer, got ${windowSize}`);
  if (!(range > 0)) throw new RangeError(`ssim dynamic range must be > 0, got ${range}`);
  const radius = (windowSize - 1) / 2;
  const kernel = cachedKernel(sigma, radius);
  const taps = kernel.length;
  const { c1, c2 } = ssimStabilizers(range);
  const { moments, rows, xIndex, yIndex } = scratchFor(height, width, radius);

  const n = height * width;
  // Horizontal pass into five planes (a, b, aa, bb, ab). Interior columns of the 11-tap default
  // window are unrolled; border columns (and other windows) go through the reflect index.
  let interiorStart = width;
  let interiorEnd = width;
  if (taps === 11 && width >= taps) {
    interiorStart = radius;
    interiorEnd = width - radius;
    horizontalInterior11(moments, a, b, height, width, kernel);
  }
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (x === interiorStart) x = interiorEnd;
      if (x >= width) break;
      let sA = 0;
      let sB = 0;
      let sAA = 0;
      let sBB = 0;
      let sAB = 0;
      for (let k = 0; k < taps; k++) {
        const i = row + xIndex[x + k];
        const w = kernel[k];
        const va = a[i];
        const vb = b[i];
        const wa = w * va;
        const wb = w * vb;
        sA += wa;
        sB += wb;
        sAA += wa * va;
        sBB += wb * vb;
        sAB += wa * vb;
      }
      const o = row + x;
      moments[o] = sA;
      moments[n + o] = sB;
      moments[2 * n + o] = sAA;
      moments[3 * n + o] = sBB;
      moments[4 * n + o] = sAB;
    }
  }

  // Vertical pass, one output row at a time into `rows` (five rows of moments), then SSIM.
  for (let y = 0; y < height; y++) {
    if (taps === 11) verticalRow11(rows, moments, yIndex, y, height, width, kernel);
    else verticalRow(rows, moments, yIndex, y, height, width, kernel);
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const ma = rows[x];
      const mb = rows[width + x];
      const varA = rows[2 * width + x] - ma * ma;
      const varB = rows[3 * width + x] - mb * mb;
      const cov = rows[4 * width + x] - ma * mb;
      const s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (varA + varB + c2));
      out[offset + row + x] = complement ? 1 - Math.fround(s) : s;
    }
  }
}

/**
 * The interior columns (radius .. width - radius - 1) of the horizontal pass for an 11-tap
 * window, unrolled; each sum adds its taps left to right from 0, as the generic loop does.
 */
function horizontalInterior11(moments: Float64Array, a: ArrayLike<number>, b: ArrayLike<number>, height: number, width: number, kernel: Float64Array): void {
  const n = height * width;
  const w0 = kernel[0], w1 = kernel[1], w2 = kernel[2], w3 = kernel[3], w4 = kernel[4], w5 = kernel[5];
  const w6 = kernel[6], w7 = kernel[7], w8 = kernel[8], w9 = kernel[9], w10 = kernel[10];
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 5; x < width - 5; x++) {
      const i = row + x - 5;
      const a0 = a[i], a1 = a[i + 1], a2 = a[i + 2], a3 = a[i + 3], a4 = a[i + 4], a5 = a[i + 5];
      const a6 = a[i + 6], a7 = a[i + 7], a8 = a[i + 8], a9 = a[i + 9], a10 = a[i + 10];
      const b0 = b[i], b1 = b[i + 1], b2 = b[i + 2], b3 = b[i + 3], b4 = b[i + 4], b5 = b[i + 5];
      const b6 = b[i + 6], b7 = b[i + 7], b8 = b[i + 8], b9 = b[i + 9], b10 = b[i + 10];
      const wa0 = w0 * a0, wa1 = w1 * a1, wa2 = w2 * a2, wa3 = w3 * a3, wa4 = w4 * a4, wa5 = w5 * a5;
      const wa6 = w6 * a6, wa7 = w7 * a7, wa8 = w8 * a8, wa9 = w9 * a9, wa10 = w10 * a10;
      const wb0 = w0 * b0, wb1 = w1 * b1, wb2 = w2 * b2, wb3 = w3 * b3, wb4 = w4 * b4, wb5 = w5 * b5;
      const wb6 = w6 * b6, wb7 = w7 * b7, wb8 = w8 * b8, wb9 = w9 * b9, wb10 = w10 * b10;
      const o = row + x;
      moments[o] = 0 + wa0 + wa1 + wa2 + wa3 + wa4 + wa5 + wa6 + wa7 + wa8 + wa9 + wa10;
      moments[n + o] = 0 + wb0 + wb1 + wb2 + wb3 + wb4 + wb5 + wb6 + wb7 + wb8 + wb9 + wb10;
      moments[2 * n + o] = 0 + wa0 * a0 + wa1 * a1 + wa2 * a2 + wa3 * a3 + wa4 * a4 + wa5 * a5 + wa6 * a6 + wa7 * a7 + wa8 * a8 + wa9 * a9 + wa10 * a10;
      moments[3 * n + o] = 0 + wb0 * b0 + wb1 * b1 + wb2 * b2 + wb3 * b3 + wb4 * b4 + wb5 * b5 + wb6 * b6 + wb7 * b7 + wb8 * b8 + wb9 * b9 + wb10 * b10;
      moments[4 * n + o] = 0 + wa0 * b0 + wa1 * b1 + wa2 * b2 + wa3 * b3 + wa4 * b4 + wa5 * b5 + wa6 * b6 + wa7 * b7 + wa8 * b8 + wa9 * b9 + wa10 * b10;
    }
  }
}

/** Output row y of the vertical pass for an 11-tap window (rows reflect through yIndex), unrolled. */
function verticalRow11(rows: Float64Array, moments: Float64Array, yIndex: Int32Array, y: number, height: number, width: number, kernel: Float64Array): void {
  const n = height * width;
  const w0 = kernel[0], w1 = kernel[1], w2 = kernel[2], w3 = kernel[3], w4 = kernel[4], w5 = kernel[5];
  const w6 = kernel[6], w7 = kernel[7], w8 = kernel[8], w9 = kernel[9], w10 = kernel[10];
  const r0 = yIndex[y] * width, r1 = yIndex[y + 1] * width, r2 = yIndex[y + 2] * width, r3 = yIndex[y + 3] * width;
  const r4 = yIndex[y + 4] * width, r5 = yIndex[y + 5] * width, r6 = yIndex[y + 6] * width, r7 = yIndex[y + 7] * width;
  const r8 = yIndex[y + 8] * width, r9 = yIndex[y + 9] * width, r10 = yIndex[y + 10] * width;
  for (let m = 0; m < 5; m++) {
    const plane = m * n;
    const dst = m * width;
    for (let x = 0; x < width; x++) {
      const j = plane + x;
      rows[dst + x] =
        0 + w0 * moments[r0 + j] + w1 * moments[r1 + j] + w2 * moments[r2 + j] + w3 * moments[r3 + j] + w4 * moments[r4 + j] + w5 * moments[r5 + j] +
        w6 * moments[r6 + j] + w7 * moments[r7 + j] + w8 * moments[r8 + j] + w9 * moments[r9 + j] + w10 * moments[r10 + j];
    }
  }
}

/** Output row y of the vertical pass for any window. */
function verticalRow(rows: Float64Array, moments: Float64Array, yIndex: Int32Array, y: number, height: number, width: number, kernel: Float64Array): void {
  const n = height * width;
  rows.fill(0);
  for (let k = 0; k < kernel.length; k++) {
    const w = kernel[k];
    const src = yIndex[y + k] * width;
    for (let m = 0; m < 5; m++) {
      const plane = m * n + src;
      const dst = m * width;
      for (let x = 0; x < width; x++) rows[dst + x] += w * moments[plane + x];
    }
  }
}
