/**
 * Greedy k-center coreset selection (PatchCore's memory-bank subsampling): pick a first patch at
 * random (seeded), then repeatedly the patch farthest from every patch picked so far, so that rare
 * normal patches stay in the bank (a random subsample loses them: 0.877 vs 0.783 image AUROC on
 * magnetic_tile in the prototype).
 *
 * Distances are computed on a seeded Gaussian random projection of the features (Johnson-Lindenstrauss;
 * PatchCore projects to 128 dimensions). The projection, the large product (N x D x K), runs as one
 * onnxruntime-node MatMul per row chunk (the converter's coreset-kernels, embedded in
 * kernels.generated.ts); each greedy step (N x K multiply-adds, memory-bound) is a plain loop, which
 * measured faster than a session run per step. The selection costs about N x K x size multiply-adds.
 */
import * as ort from 'onnxruntime-node';
import { createRandom } from '../../random.js';
import { PROJECTION_ONNX_BASE64 } from './kernels.generated.js';

export interface CoresetOptions {
  /** How many patches to keep. */
  size: number;
  /** Dimensions of the random projection the distances are computed on (default 128; none when >= the feature width). */
  projectionDim?: number;
  /** Seed of the projection and of the first center (default 0). */
  seed?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  threads?: number;
  /**
   * Asked every 64 picks: true ends the selection early (Ctrl-C). The picks so far are a valid,
   * smaller greedy coreset (the greedy order is nested), returned with `stopped` set.
   */
  shouldStop?: () => boolean;
}

export interface CoresetResult {
  /** Indices of the kept patches (rows of the features), in the order they were picked. */
  indices: Int32Array;
  /** Width of the vectors the distances were computed on (the projection's, or the features'). */
  distanceDim: number;
  /**
   * Squared distance (projected) of the patch farthest from the coreset after selection: every
   * training patch lies within it of a kept patch. 0 when the coreset holds every distinct patch.
   */
  coverRadiusSquared: number;
  /** Set when fewer patches than asked were kept: the rest are duplicates of kept ones, or the selection was stopped. */
  note?: string;
  /** True when shouldStop ended the selection before `size` picks. */
  stopped?: boolean;
  timings: { projectionMs: number; selectionMs: number };
}

const PROJECTION_ROWS = 16384;

function bytesOf(base64: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

function sessionOptions(threads: number | undefined): ort.InferenceSession.SessionOptions {
  return { executionProviders: ['cpu'], graphOptimizationLevel: 'all', ...(threads !== undefined ? { intraOpNumThreads: threads } : {}) };
}

/** A seeded Gaussian [dim, projectionDim] matrix scaled by 1 / sqrt(projectionDim) (Box-Muller). */
export function gaussianProjection(dim: number, projectionDim: number, seed: number): Float32Array {
  const random = createRandom(seed);
  const out = new Float32Array(dim * projectionDim);
  const scale = 1 / Math.sqrt(projectionDim);
  for (let i = 0; i < out.length; i += 2) {
    const u = 1 - random.next();
    const v = random.next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v) * scale;
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * v) * scale;
  }
  return out;
}

async function project(features: Float32Array, count: number, dim: number, projectionDim: number, seed: number, threads: number | undefined): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytesOf(PROJECTION_ONNX_BASE64), sessionOptions(threads));
  try {
    const projection = new ort.Tensor('float32', gaussianProjection(dim, projectionDim, seed), [dim, projectionDim]);
    const out = new Float32Array(count * projectionDim);
    for (let start = 0; start < count; start += PROJECTION_ROWS) {
      const rows = Math.min(PROJECTION_ROWS, count - start);
      const chunk = new ort.Tensor('float32', features.subarray(start * dim, (start + rows) * dim), [rows, dim]);
      const result = await session.run({ features: chunk, projection });
      out.set(result.projected.data as Float32Array, start * projectionDim);
    }
    return out;
  } finally {
    await session.release();
  }
}

/**
 * One greedy step: lowers each point's squared distance to the chosen centers by the new center
 * (||x||^2 - 2 x.c + ||c||^2, accumulated in float64) and returns the first farthest point. A plain
 * loop: it reads every projected point once, and measured 3x faster than an onnxruntime session run
 * per step (6.2 vs 18.3 ms CPU at 50,000 x 128), whose inputs are copied on every run.
 */
function kCenterStep(points: Float32Array, norms: Float32Array, minDistances: Float64Array, center: number, dim: number): { farthest: number; distance: number } {
  const c = center * dim;
  let centerNorm = 0;
  for (let k = 0; k < dim; k++) centerNorm += points[c + k] * points[c + k];
  let farthest = 0;
  let distance = -Infinity;
  const unrolled = dim - (dim % 4);
  for (let i = 0, o = 0; i < minDistances.length; i++, o += dim) {
    let dot = 0;
    let k = 0;
    for (; k < unrolled; k += 4) dot += points[o + k] * points[c + k] + points[o + k + 1] * points[c + k + 1] + points[o + k + 2] * points[c + k + 2] + points[o + k + 3] * points[c + k + 3];
    for (; k < dim; k++) dot += points[o + k] * points[c + k];
    const d2 = Math.max(0, norms[i] - 2 * dot + centerNorm);
    const m = d2 < minDistances[i] ? (minDistances[i] = d2) : minDistances[i];
    if (m > distance) {
      distance = m;
      farthest = i;
    }
  }
  return { farthest, distance };
}

/**
 * Greedy k-center selection of `options.size` of the `count` rows of `features` (row-major, `dim` wide).
 * Deterministic for a given seed, thread count and input.
 */
export async function greedyCoreset(features: Float32Array, count: number, dim: number, options: CoresetOptions): Promise<CoresetResult> {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`greedyCoreset: count must be a positive integer, got ${String(count)}`);
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`greedyCoreset: dim must be a positive integer, got ${String(dim)}`);
  if (!(features instanceof Float32Array) || features.length !== count * dim) {
    throw new RangeError(`greedyCoreset: expected ${count} x ${dim} = ${count * dim} float32 values, got ${features?.length}`);
  }
  const size = options.size;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`greedyCoreset: size must be a positive integer, got ${String(size)}`);
  const projectionDim = options.projectionDim ?? 128;
  if (!Number.isInteger(projectionDim) || projectionDim < 1) throw new RangeError(`greedyCoreset: projectionDim must be a positive integer, got ${String(projectionDim)}`);
  for (let i = 0; i < features.length; i++) {
    if (!Number.isFinite(features[i])) throw new RangeError(`greedyCoreset: feature row ${Math.floor(i / dim)} holds ${features[i]}`);
  }
  const seed = options.seed ?? 0;

  const projectionStart = Date.now();
  const distanceDim = projectionDim < dim ? projectionDim : dim;
  const points = distanceDim < dim ? await project(features, count, dim, distanceDim, seed, options.threads) : features;
  const projectionMs = Date.now() - projectionStart;

  const selectionStart = Date.now();
  if (size >= count) {
    return { indices: Int32Array.from({ length: count }, (_, i) => i), distanceDim, coverRadiusSquared: 0, timings: { projectionMs, selectionMs: 0 } };
  }
  const norms = new Float32Array(count);
  let largestNorm = 0;
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let d = 0; d < distanceDim; d++) sum += points[i * distanceDim + d] ** 2;
    norms[i] = sum;
    largestNorm = Math.max(largestNorm, sum);
  }
  // A duplicate of a kept patch is at float32 rounding distance (~1e-7 of the norms), not exactly 0.
  const duplicateDistance = 1e-6 * largestNorm;
  const indices: number[] = [];
  const minDistances = new Float64Array(count).fill(Infinity);
  let coverRadiusSquared = 0;
  let note: string | undefined;
  let stopped = false;
  let next = createRandom(seed + 1).int(count);
  for (;;) {
    indices.push(next);
    ({ farthest: next, distance: coverRadiusSquared } = kCenterStep(points, norms, minDistances, next, distanceDim));
    if (indices.length === size) break;
    if (indices.length % 64 === 0 && options.shouldStop?.()) {
      stopped = true;
      note = `selection stopped after ${indices.length} of ${size} picks`;
      break;
    }
    if (coverRadiusSquared <= duplicateDistance) {
      coverRadiusSquared = 0;
      note = `only ${indices.length} distinct patches among ${count}: the coreset keeps them all (${size} asked)`;
      break;
    }
  }
  return { indices: Int32Array.from(indices), distanceDim, coverRadiusSquared, ...(note ? { note } : {}), ...(stopped ? { stopped } : {}), timings: { projectionMs, selectionMs: Date.now() - selectionStart } };
}
