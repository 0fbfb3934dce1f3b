/**
 * Stain noise of AESc (Collin & De Vleeschouwer 2020): an irregular blob -- ~20 random contour
 * points around a centre joined by a closed cubic (Catmull-Rom) spline -- of diameter 1-12% of
 * the image side, filled with one grey level in 10..220 (8-bit), with a slightly blurred edge.
 * Isomorphic (typed arrays only), seeded.
 */
import { createRandom, type SeededRandom } from '../random.js';

export interface StainOptions {
  /** Blob diameter as a fraction of the image side: uniform in [min, max]. Default [0.01, 0.12]. */
  sizeFraction?: [number, number];
  /** 8-bit grey level range, default [10, 220]. */
  greyLevel?: [number, number];
  /** Contour points, default 20. */
  contourPoints?: number;
  /** Normalization of the model input, per channel: value = (grey/255 - mean) / std. Default 0 / 1. */
  mean?: number[];
  std?: number[];
}

export interface Stain {
  /** Per-pixel opacity in [0, 1], row-major height x width; 0 outside the blob and its blurred rim. */
  alpha: Float32Array;
  width: number;
  height: number;
  /** 8-bit grey level of the fill. */
  greyLevel: number;
  centreX: number;
  centreY: number;
  /** Nominal diameter in pixels (contour radii are in [0.5, 1] x diameter / 2). */
  diameter: number;
}

const SPLINE_SAMPLES_PER_SEGMENT = 8;

function catmullRom(p0: number, p1: number, p2: number, p3: number, t: number): number {
  const t2 = t * t;
  const t3 = t2 * t;
  return 0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3);
}

/** Even-odd fill of a closed polygon, sampled at pixel centres. */
function rasterizePolygon(xs: number[], ys: number[], width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  const n = xs.length;
  const minY = Math.max(0, Math.floor(Math.min(...ys)));
  const maxY = Math.min(height - 1, Math.ceil(Math.max(...ys)));
  const crossings: number[] = [];
  for (let y = minY; y <= maxY; y++) {
    const cy = y + 0.5;
    crossings.length = 0;
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n;
      const y0 = ys[i];
      const y1 = ys[j];
      if ((y0 <= cy && y1 > cy) || (y1 <= cy && y0 > cy)) {
        crossings.push(xs[i] + ((cy - y0) / (y1 - y0)) * (xs[j] - xs[i]));
      }
    }
    crossings.sort((a, b) => a - b);
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      const from = Math.max(0, Math.ceil(crossings[k] - 0.5));
      const to = Math.min(width - 1, Math.floor(crossings[k + 1] - 0.5));
      for (let x = from; x <= to; x++) mask[y * width + x] = 1;
    }
  }
  return mask;
}

/** One separable [1, 2, 1] / 4 pass: softens the edge over one pixel, zero beyond it. */
function blurEdge(mask: Uint8Array, width: number, height: number): Float32Array {
  const horizontal = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const left = x > 0 ? mask[i - 1] : 0;
      const right = x < width - 1 ? mask[i + 1] : 0;
      horizontal[i] = (left + 2 * mask[i] + right) / 4;
    }
  }
  const alpha = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const up = y > 0 ? horizontal[i - width] : 0;
      const down = y < height - 1 ? horizontal[i + width] : 0;
      alpha[i] = (up + 2 * horizontal[i] + down) / 4;
    }
  }
  return alpha;
}

function checkRange(name: string, range: [number, number], low: number, high: number): void {
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] >= low && range[0] <= range[1] && range[1] <= high)) {
    throw new Error(`stain ${name} must be [min, max] with ${low} <= min <= max <= ${high}, got ${JSON.stringify(range)}`);
  }
}

/** Draws one stain for a width x height image. */
export function createStain(width: number, height: number, random: SeededRandom, options: StainOptions = {}): Stain {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`stain image size must be positive integers, got ${width}x${height}`);
  }
  const sizeFraction = options.sizeFraction ?? [0.01, 0.12];
  const greyRange = options.greyLevel ?? [10, 220];
  const points = options.contourPoints ?? 20;
  checkRange('sizeFraction', sizeFraction, 0, 1);
  checkRange('greyLevel', greyRange, 0, 255);
  if (!Number.isInteger(points) || points < 3) throw new Error(`stain contourPoints must be an integer >= 3, got ${points}`);

  const side = Math.min(width, height);
  // At least 2 px across so that tiny test images still receive a visible stain.
  const diameter = Math.max(2, random.uniform(sizeFraction[0], sizeFraction[1]) * side);
  const radius = diameter / 2;
  const centreX = random.uniform(0, width);
  const centreY = random.uniform(0, height);
  const px: number[] = [];
  const py: number[] = [];
  const step = (2 * Math.PI) / points;
  for (let i = 0; i < points; i++) {
    const angle = i * step + random.uniform(-0.4, 0.4) * step;
    const r = radius * random.uniform(0.5, 1);
    px.push(centreX + r * Math.cos(angle));
    py.push(centreY + r * Math.sin(angle));
  }
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < points; i++) {
    const i0 = (i - 1 + points) % points;
    const i2 = (i + 1) % points;
    const i3 = (i + 2) % points;
    for (let s = 0; s < SPLINE_SAMPLES_PER_SEGMENT; s++) {
      const t = s / SPLINE_SAMPLES_PER_SEGMENT;
      xs.push(catmullRom(px[i0], px[i], px[i2], px[i3], t));
      ys.push(catmullRom(py[i0], py[i], py[i2], py[i3], t));
    }
  }
  const alpha = blurEdge(rasterizePolygon(xs, ys, width, height), width, height);
  const greyLevel = Math.round(random.uniform(greyRange[0], greyRange[1]));
  return { alpha, width, height, greyLevel, centreX, centreY, diameter };
}

/**
 * Returns a copy of an NHWC float batch with one stain blended into each image:
 * x = (1 - alpha) x + alpha * value(grey), the value normalized like the model input.
 */
export function applyStainNoise(
  batch: Float32Array,
  shape: readonly [number, number, number, number],
  seedOrRandom: number | SeededRandom,
  options: StainOptions = {},
): { data: Float32Array; stains: Stain[] } {
  const [count, height, width, channels] = shape;
  if (batch.length !== count * height * width * channels) {
    throw new Error(`applyStainNoise: batch has ${batch.length} values, shape [${shape.join(', ')}] needs ${count * height * width * channels}`);
  }
  const mean = options.mean ?? new Array<number>(channels).fill(0);
  const std = options.std ?? new Array<number>(channels).fill(1);
  if (mean.length !== channels || std.length !== channels || std.some((s) => !(s > 0))) {
    throw new Error(`applyStainNoise: mean/std need ${channels} entries each (std > 0), got mean ${JSON.stringify(mean)} std ${JSON.stringify(std)}`);
  }
  const random = typeof seedOrRandom === 'number' ? createRandom(seedOrRandom) : seedOrRandom;
  const data = new Float32Array(batch);
  const stains: Stain[] = [];
  const imageSize = height * width * channels;
  for (let n = 0; n < count; n++) {
    const stain = createStain(width, height, random, options);
    stains.push(stain);
    const base = n * imageSize;
    for (let p = 0; p < height * width; p++) {
      const a = stain.alpha[p];
      if (a === 0) continue;
      for (let c = 0; c < channels; c++) {
        const value = (stain.greyLevel / 255 - mean[c]) / std[c];
        const i = base + p * channels + c;
        data[i] = (1 - a) * data[i] + a * value;
      }
    }
  }
  return { data, stains };
}
