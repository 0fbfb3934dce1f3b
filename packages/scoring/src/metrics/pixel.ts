/**
 * Pixel-level metrics over ground-truth masks: pixel AUROC and the PRO curve / AUPRO of the
 * MVTec AD protocol (Bergmann et al.): per-region overlap averaged over all 8-connected regions of
 * all masks, against the false-positive rate on all normal pixels, integrated up to an FPR limit
 * and divided by it. Both sort every pixel once (radix argsort) and sweep thresholds once.
 */
import { float32FromSortKey, float32SortKeys, radixSortPairs } from './sort.js';

/** One image: its anomaly map and ground-truth mask (non-zero = anomalous), row-major height x width. */
export interface SegmentationSample {
  map: Float32Array;
  mask: ArrayLike<number>;
  width: number;
  height: number;
}

interface Concatenated {
  scores: Float32Array;
  /** Per pixel: 0 = normal, otherwise the 1-based global id of its connected anomalous region. */
  regions: Int32Array;
  /** regionSizes[id] = pixel count of region id (index 0 unused). */
  regionSizes: Float64Array;
  normalPixels: number;
  anomalousPixels: number;
}

/**
 * 8-connected component labelling of a binary mask (non-zero = foreground), like
 * scipy.ndimage.label(mask, structure=np.ones((3, 3))). Returns labels 1..count (0 = background).
 */
export function labelConnectedComponents(mask: ArrayLike<number>, width: number, height: number): { labels: Int32Array; count: number } {
  const labels = new Int32Array(width * height);
  const stack = new Int32Array(width * height);
  let count = 0;
  for (let start = 0; start < labels.length; start++) {
    if (!mask[start] || labels[start]) continue;
    count++;
    labels[start] = count;
    let top = 0;
    stack[top++] = start;
    while (top > 0) {
      const p = stack[--top];
      const px = p % width;
      const py = (p - px) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = py + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = px + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (mask[q] && !labels[q]) {
            labels[q] = count;
            stack[top++] = q;
          }
        }
      }
    }
  }
  return { labels, count };
}

function concatenate(samples: readonly SegmentationSample[], what: string, withRegions: boolean): Concatenated {
  if (!Array.isArray(samples) || samples.length === 0) throw new RangeError(`${what}: needs at least one sample`);
  let total = 0;
  samples.forEach((s, k) => {
    if (!(s.map instanceof Float32Array)) throw new TypeError(`${what}: samples[${k}].map must be a Float32Array`);
    if (!Number.isInteger(s.width) || !Number.isInteger(s.height) || s.width <= 0 || s.height <= 0) {
      throw new RangeError(`${what}: samples[${k}] has invalid size ${s.width}x${s.height}`);
    }
    const n = s.width * s.height;
    if (s.map.length !== n) throw new RangeError(`${what}: samples[${k}].map has ${s.map.length} values but ${s.width}x${s.height} needs ${n}`);
    if (!s.mask || s.mask.length !== n) throw new RangeError(`${what}: samples[${k}].mask has ${s.mask?.length} values but ${s.width}x${s.height} needs ${n}`);
    total += n;
  });
  const scores = new Float32Array(total);
  const regions = new Int32Array(total);
  const sizes: number[] = [0];
  let offset = 0;
  let anomalousPixels = 0;
  samples.forEach((s, k) => {
    const n = s.map.length;
    for (let i = 0; i < n; i++) {
      const v = s.map[i];
      if (!Number.isFinite(v)) throw new RangeError(`${what}: samples[${k}].map[${i}] is ${v}; scores must be finite`);
      scores[offset + i] = v + 0; // -0 -> +0
    }
    if (withRegions) {
      const { labels, count } = labelConnectedComponents(s.mask, s.width, s.height);
      const base = sizes.length - 1;
      for (let r = 0; r < count; r++) sizes.push(0);
      for (let i = 0; i < n; i++) {
        const l = labels[i];
        if (l) {
          regions[offset + i] = base + l;
          sizes[base + l]++;
          anomalousPixels++;
        }
      }
    } else {
      for (let i = 0; i < n; i++) {
        if (s.mask[i]) {
          regions[offset + i] = 1;
          anomalousPixels++;
        }
      }
    }
    offset += n;
  });
  return { scores, regions, regionSizes: Float64Array.from(sizes), normalPixels: total - anomalousPixels, anomalousPixels };
}

/** Pixel AUROC over all pixels of all samples (exact under ties). */
export function pixelAuroc(samples: readonly SegmentationSample[]): number {
  const { scores, regions, normalPixels, anomalousPixels } = concatenate(samples, 'pixelAuroc', false);
  if (normalPixels === 0 || anomalousPixels === 0) {
    throw new RangeError(`pixelAuroc is undefined with only one class (${anomalousPixels} anomalous, ${normalPixels} normal pixels)`);
  }
  const sorted = radixSortPairs(float32SortKeys(scores), regions);
  const keys = sorted.keys;
  const labels = sorted.payload;
  let area = 0;
  let tp = 0;
  let fp = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let i = keys.length - 1; i >= 0; i--) {
    if (labels[i]) tp++;
    else fp++;
    if (i === 0 || keys[i - 1] !== keys[i]) {
      area += (fp - prevFp) * (tp + prevTp);
      prevTp = tp;
      prevFp = fp;
    }
  }
  return area / 2 / (anomalousPixels * normalPixels);
}

/**
 * Sweeps thresholds from high to low; calls visit(fpr, pro, threshold) once per distinct score
 * (ties merged) until it returns false. FPR and PRO are clipped to [0, 1] as in the MVTec code.
 */
function sweepPro(samples: readonly SegmentationSample[], what: string, visit: (fpr: number, pro: number, threshold: number) => boolean): void {
  const { scores, regions, regionSizes, normalPixels } = concatenate(samples, what, true);
  const regionCount = regionSizes.length - 1;
  if (regionCount === 0) throw new RangeError(`${what}: the masks contain no anomalous region`);
  if (normalPixels === 0) throw new RangeError(`${what}: the masks contain no normal pixel, so the false-positive rate is undefined`);
  const inverseSize = new Float64Array(regionSizes.length);
  for (let r = 1; r < regionSizes.length; r++) inverseSize[r] = 1 / regionSizes[r];
  const sorted = radixSortPairs(float32SortKeys(scores), regions);
  const keys = sorted.keys;
  const regionOf = sorted.payload;
  let fp = 0;
  let overlap = 0; // sum over regions of (flagged pixels in region / region size)
  for (let i = keys.length - 1; i >= 0; i--) {
    const r = regionOf[i];
    if (r) overlap += inverseSize[r];
    else fp++;
    if (i === 0 || keys[i - 1] !== keys[i]) {
      const fpr = Math.min(1, fp / normalPixels);
      const pro = Math.min(1, overlap / regionCount);
      if (!visit(fpr, pro, float32FromSortKey(keys[i]))) return;
    }
  }
}

export interface ProCurve {
  /** Starts at (0, 0) with threshold +Infinity; one point per distinct score while fpr <= maxFpr. */
  fpr: Float64Array;
  pro: Float64Array;
  thresholds: Float64Array;
}

/** The PRO curve (per-region overlap vs pixel FPR), up to maxFpr (default 1: the whole curve). */
export function proCurve(samples: readonly SegmentationSample[], maxFpr = 1): ProCurve {
  if (!(maxFpr > 0 && maxFpr <= 1)) throw new RangeError(`proCurve: maxFpr must be in (0, 1], got ${maxFpr}`);
  const fpr: number[] = [0];
  const pro: number[] = [0];
  const thresholds: number[] = [Infinity];
  sweepPro(samples, 'proCurve', (f, p, t) => {
    if (f > maxFpr) return false;
    fpr.push(f);
    pro.push(p);
    thresholds.push(t);
    return true;
  });
  return { fpr: Float64Array.from(fpr), pro: Float64Array.from(pro), thresholds: Float64Array.from(thresholds) };
}

/**
 * AUPRO: trapezoidal area under the PRO curve from FPR 0 to fprLimit (default 0.3), the last
 * segment interpolated linearly at fprLimit, divided by fprLimit (so a perfect map scores 1).
 */
export function aupro(samples: readonly SegmentationSample[], fprLimit = 0.3): number {
  if (!(fprLimit > 0 && fprLimit <= 1)) throw new RangeError(`aupro: fprLimit must be in (0, 1], got ${fprLimit}`);
  let area = 0;
  let x0 = 0;
  let y0 = 0;
  sweepPro(samples, 'aupro', (x1, y1) => {
    if (x1 <= fprLimit) {
      area += ((x1 - x0) * (y0 + y1)) / 2;
      x0 = x1;
      y0 = y1;
      return true;
    }
    if (x0 < fprLimit) {
      const yAtLimit = y0 + ((y1 - y0) * (fprLimit - x0)) / (x1 - x0);
      area += ((fprLimit - x0) * (y0 + yAtLimit)) / 2;
    }
    return false;
  });
  return area / fprLimit;
}
