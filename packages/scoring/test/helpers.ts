import { readFileSync } from 'node:fs';
import { createSeededRandom as seededRandom } from '../src/index.js';

/** mulberry32, the generator of the MC-Dropout masks. */
export { seededRandom };

export function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

export interface BinaryFixture {
  name: string;
  scores: number[];
  labels: number[];
  auroc: number;
  averagePrecision: number;
  roc: { fpr: number[]; tpr: number[]; thresholds: number[] };
  pr: { precision: number[]; recall: number[]; thresholds: number[] };
  f1Max: { f1: number; threshold: number };
  atThreshold: Array<{ threshold: number; tp: number; fp: number; tn: number; fn: number; precision: number; recall: number; f1: number; accuracy: number }>;
}

export interface PixelFixture {
  name: string;
  width: number;
  height: number;
  maps: number[][];
  masks: number[][];
  pixelAuroc: number;
  aupro: number;
  auproFull: number;
  regions: number;
  proCurveHead: { fpr: number[]; pro: number[] };
}

export interface Reference {
  binary: BinaryFixture[];
  pixel: PixelFixture[];
  smoothing: { height: number; width: number; map: number[]; sigmas: Record<string, number[]> };
  ssim: { height: number; width: number; a: number[]; b: number[]; ssimRange1: number[]; ssimRange2: number[] };
  residual: { values: number[]; mean: number; std: number; variance: number; skewness: number; kurtosis: number; min: number; max: number; range: number; cumulativeSum: number; entropy: number };
  quantiles: { values: number[]; q: Record<string, number> };
}

const path = new URL('./fixtures/reference.json', import.meta.url);

/** Fixtures written by test/fixtures/generate_fixtures.py (sklearn/scipy); committed. */
export function loadReference(): Reference {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Reference;
  } catch (error) {
    throw new Error(`cannot read ${path.pathname}: regenerate it with /usr/bin/python3 test/fixtures/generate_fixtures.py (${(error as Error).message})`);
  }
}
