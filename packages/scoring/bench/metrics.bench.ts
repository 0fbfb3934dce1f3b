/**
 * Pixel AUROC and AUPRO over 100 synthetic 256x256 anomaly maps with elliptical blob masks (seeded).
 * Run: npm run bench (from packages/scoring). Writes bench-results/metrics.json and prints it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { aupro, createSeededRandom as seededRandom, pixelAuroc, type SegmentationSample } from '../src/index.js';

const IMAGES = 100;
const SIZE = 256;
const REPEATS = 3;
const rand = seededRandom(2026);

function makeSample(index: number): SegmentationSample {
  const mask = new Uint8Array(SIZE * SIZE);
  const map = new Float32Array(SIZE * SIZE);
  const blobs = index % 4 === 0 ? 0 : 1 + Math.floor(rand() * 3); // a quarter of the images are good
  for (let b = 0; b < blobs; b++) {
    const cy = rand() * SIZE;
    const cx = rand() * SIZE;
    const ry = 3 + rand() * 25;
    const rx = 3 + rand() * 25;
    for (let y = Math.max(0, Math.floor(cy - ry)); y < Math.min(SIZE, Math.ceil(cy + ry)); y++) {
      for (let x = Math.max(0, Math.floor(cx - rx)); x < Math.min(SIZE, Math.ceil(cx + rx)); x++) {
        if (((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1) mask[y * SIZE + x] = 1;
      }
    }
  }
  for (let i = 0; i < map.length; i++) map[i] = rand() + (mask[i] ? 0.6 * rand() : 0);
  return { map, mask, width: SIZE, height: SIZE };
}

function time<T>(fn: () => T): { ms: number[]; value: T } {
  const ms: number[] = [];
  let value!: T;
  for (let r = 0; r < REPEATS; r++) {
    const start = performance.now();
    value = fn();
    ms.push(performance.now() - start);
  }
  return { ms, value };
}

const samples = Array.from({ length: IMAGES }, (_, k) => makeSample(k));
const auroc = time(() => pixelAuroc(samples));
const pro = time(() => aupro(samples, 0.3));
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const result = {
  benchmark: 'scoring pixel metrics',
  images: IMAGES,
  size: `${SIZE}x${SIZE}`,
  pixels: IMAGES * SIZE * SIZE,
  repeats: REPEATS,
  pixelAuroc: { value: auroc.value, medianMs: Math.round(median(auroc.ms)), runsMs: auroc.ms.map(Math.round) },
  aupro: { value: pro.value, fprLimit: 0.3, medianMs: Math.round(median(pro.ms)), runsMs: pro.ms.map(Math.round) },
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  date: new Date().toISOString(),
};
mkdirSync(new URL('../bench-results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../bench-results/metrics.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
