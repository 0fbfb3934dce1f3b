/**
 * Microbenchmark of the per-image work between inference and commit (the answers' `files`
 * stage) with the shipped DFR's shapes (1 x 224 x 224 input, 224 x 224 map): each step alone,
 * the median and p99 of wall and of the main thread's CPU time, over STAGE_ITERATIONS runs.
 * CPU time is what a loaded machine skews least. Files go to a temporary folder.
 *
 *   node --conditions=@residuum/source --import tsx bench/stage-costs.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng, modelTensorToImage, renderHeatmapOverlay } from '@residuum/imaging';
import { colorizeMap, overlayHeatmap } from '@residuum/scoring';

const ITERATIONS = Number(process.env.STAGE_ITERATIONS ?? 150);
const spec = { width: 224, height: 224, channels: 1 as const, mean: [0.5], std: [0.5], channelOrder: 'rgb' as const, pixelDivisor: 255 as const };
const input = new Float32Array(224 * 224).map((_, i) => Math.sin(i / 300));
const map = { data: new Float32Array(224 * 224).map((_, i) => Math.abs(Math.cos(i / 700))), width: 224, height: 224 };
const dir = mkdtempSync(join(tmpdir(), 'residuum-stage-costs-'));
const original = new Uint8Array(20_000).map((_, i) => i * 7);

async function measure(name: string, step: (i: number) => Promise<unknown> | unknown) {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < ITERATIONS; i += 1) {
    const c = process.cpuUsage();
    const t = performance.now();
    await step(i);
    wall.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  const q = (a: number[], p: number) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.ceil(p * a.length) - 1)].toFixed(2);
  console.log(`${name.padEnd(46)} wall p50 ${q(wall, 0.5)} p99 ${q(wall, 0.99)}   process CPU p50 ${q(cpu, 0.5)} ms`);
}

const base = modelTensorToImage(input, spec);
const overlay = renderHeatmapOverlay(base, map, { range: { min: 0, max: 2 }, alpha: 0.6 });
const png1 = await encodePng(overlay, { compressionLevel: 1 });
try {
  await measure('modelTensorToImage', () => modelTensorToImage(input, spec));
  for (let round = 0; round < 3; round += 1) {
    await measure('renderHeatmapOverlay', () => renderHeatmapOverlay(base, map, { range: { min: 0, max: 2 }, alpha: 0.6 }));
    // what renderHeatmapOverlay did for a same-size map before overlayMapRgb: four full-size passes
    await measure('  before: RGBA, colorize, overlay, RGB', () => {
      const rgba = new Uint8ClampedArray(224 * 224 * 4).map((_, i) => (i % 4 === 3 ? 255 : base.data[i >> 2]));
      const full = new Float32Array(224 * 224).fill(Number.NaN);
      full.set(map.data);
      const blended = overlayHeatmap(rgba, colorizeMap(full, 224, 224, { min: 0, max: 2 }), 0.6);
      const rgb = new Uint8Array(224 * 224 * 3);
      for (let i = 0; i < 224 * 224; i++) for (let k = 0; k < 3; k++) rgb[i * 3 + k] = blended[i * 4 + k];
      return rgb;
    });
  }
  for (const level of [0, 1]) await measure(`encodePng level ${level}`, () => encodePng(overlay, { compressionLevel: level }));
  await measure('writeFile heatmap (no fsync)', (i) => writeFile(join(dir, `h${i}.png`), png1));
  await measure('writeFile original 20 KB + fsync', (i) => writeFile(join(dir, `o${i}.jpg`), original, { flush: true }));
  await measure('open/write/fdatasync original 20 KB', async (i) => {
    const handle = await open(join(dir, `d${i}.jpg`), 'w');
    try {
      await handle.writeFile(original);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
