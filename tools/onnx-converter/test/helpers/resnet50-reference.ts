/** The committed ResNet-50 reference features: what is stored per tap, and how it is computed from a CHW tensor. */
import { seededRandom } from './tfjs-harness.js';

export const REFERENCE_IMAGE = 'models/samples/casting/def_front/cast_def_0_1059.jpeg';
/** Positions sampled per tap (seeded, the same for the script and the test). */
export const SAMPLES_PER_TAP = 256;

export interface TapReference {
  layer: string;
  /** [C, H, W] */
  shape: number[];
  max: number;
  mean: number;
  /** Spatial mean of every channel. */
  channelMeans: number[];
  /** [channel, y, x, value] at seeded positions. */
  samples: Array<[number, number, number, number]>;
}

export interface ReferenceFile {
  about: string;
  image: string;
  size: number;
  backend: string;
  tfjsVersion: string;
  createdAt: string;
  predictSeconds: number;
  taps: Record<string, TapReference>;
}

/** Seeded positions of a [C, H, W] tap (a distinct seed per layer name length keeps taps apart). */
export function samplePositions(shape: number[], seed: number): Array<[number, number, number]> {
  const random = seededRandom(seed);
  const [c, h, w] = shape;
  return Array.from({ length: SAMPLES_PER_TAP }, () => [Math.floor(random() * c), Math.floor(random() * h), Math.floor(random() * w)]);
}

export function summarizeTap(chw: Float32Array, shape: number[], layer: string): TapReference {
  const [c, h, w] = shape;
  const plane = h * w;
  const channelMeans = Array.from({ length: c }, (_, k) => {
    let sum = 0;
    for (let i = k * plane; i < (k + 1) * plane; i++) sum += chw[i];
    return sum / plane;
  });
  let max = 0;
  let sum = 0;
  for (const v of chw) {
    max = Math.max(max, v);
    sum += v;
  }
  const samples = samplePositions(shape, c).map(([k, y, x]) => [k, y, x, chw[(k * h + y) * w + x]] as [number, number, number, number]);
  return { layer, shape, max, mean: sum / chw.length, channelMeans, samples };
}
