/**
 * Runtime benchmark (CPU provider): end-to-end images/s and p50/p95 latency (decode -> verdict)
 * and inference alone, for batch 1 and 16, on a CAE at 128 and 256 px. Uses a converted CAE
 * from the repo's models/ folder when one of that size exists, else generates an untrained one
 * with make_bench_cae.py (Debian python3-onnx). Images: the embedded casting sample (300x300
 * JPEG), cycled. Writes bench-results/inspect.json and prints it.
 * Run: npm run bench   (BENCH_ROUNDS=N for more repetitions; default 3 rounds of 16 images)
 * TODO: the TF.js (tfjs-node / wasm) comparison of the issue.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { loadModelCard } from '@residuum/inspection';
import { createNodeInspector } from '../src/index.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = join(packageDir, '../..');
const resultsDir = join(packageDir, 'bench-results');
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const threads = process.env.BENCH_THREADS ? Number(process.env.BENCH_THREADS) : undefined;

function filesUnder(dir: string, test: (name: string) => boolean): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path, test) : test(name) ? [path] : [];
  });
}

function findModel(size: number): { path: string; origin: string } {
  for (const path of filesUnder(join(repoRoot, 'models'), (name) => name.endsWith('.onnx'))) {
    try {
      const card = loadModelCard(new Uint8Array(readFileSync(path)));
      if (card.family === 'cae' && card.preprocessing.width === size && card.preprocessing.height === size) {
        return { path, origin: `converted (${card.name}, ${card.producer.converter ?? 'unknown converter'})` };
      }
    } catch {
      // not a usable Residuum model: ignore here
    }
  }
  const path = join(resultsDir, 'models', `bench-cae-${size}.onnx`);
  mkdirSync(dirname(path), { recursive: true });
  execFileSync('/usr/bin/python3', [fileURLToPath(new URL('./make_bench_cae.py', import.meta.url)), String(size), path], { stdio: 'inherit' });
  return { path, origin: 'generated (untrained CAE, make_bench_cae.py)' };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

async function benchModel(modelPath: string, size: number, images: string[]) {
  const out: Record<string, unknown> = {};
  for (const batch of [1, 16]) {
    const inspector = await createNodeInspector(modelPath, { provider: 'cpu', batchSize: batch, threads, warmup: true });
    // End to end: each call decodes, preprocesses, runs and scores `batch` images.
    const callMs: number[] = [];
    let scored = 0;
    const started = performance.now();
    for (let round = 0; round < rounds * (16 / batch); round++) {
      const chunk = Array.from({ length: batch }, (_, i) => images[(round * batch + i) % images.length]);
      const t0 = performance.now();
      const results = await inspector.inspect(chunk);
      callMs.push(performance.now() - t0);
      scored += results.filter((r) => r.ok).length;
    }
    const wallMs = performance.now() - started;
    await inspector.dispose();

    // Inference alone: the same session settings, one preprocessed batch, session.run only.
    const session = await ort.InferenceSession.create(modelPath, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    });
    const input = new ort.Tensor('float32', new Float32Array(batch * size * size).fill(0.5), [batch, 1, size, size]);
    await session.run({ input });
    const inferenceMs: number[] = [];
    for (let i = 0; i < Math.max(3, rounds * 2); i++) {
      const t0 = performance.now();
      await session.run({ input });
      inferenceMs.push(performance.now() - t0);
    }
    await session.release();

    out[`batch${batch}`] = {
      endToEnd: {
        images: scored,
        imagesPerSecond: round3((scored * 1000) / wallMs),
        // Latency of one inspect() call of `batch` images, decode -> verdict.
        callLatencyP50Ms: round3(percentile(callMs, 0.5)),
        callLatencyP95Ms: round3(percentile(callMs, 0.95)),
      },
      inferenceOnly: {
        runs: inferenceMs.length,
        imagesPerSecond: round3((batch * 1000 * inferenceMs.length) / inferenceMs.reduce((a, b) => a + b, 0)),
        p50Ms: round3(percentile(inferenceMs, 0.5)),
        p95Ms: round3(percentile(inferenceMs, 0.95)),
      },
    };
  }
  return out;
}

const images = filesUnder(join(repoRoot, 'models/samples/casting'), (name) => /\.jpe?g$/i.test(name)).sort();
if (images.length === 0) throw new Error('no sample images under models/samples/casting');
const report: Record<string, unknown> = {
  benchmark: 'runtime-node inspect (CPU execution provider)',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, onnxruntimeNode: '1.30.0', threads: threads ?? 'onnxruntime default' },
  images: `${images.length} casting sample JPEGs (300x300), cycled`,
  rounds,
  models: {} as Record<string, unknown>,
  againstTfjs: 'measured by apps/cli (npm run bench there): the same CAE on onnxruntime-node and TF.js predict, wasm and cpu backends; results in apps/cli/bench-results/edge-vs-tfjs.json',
};
for (const size of [128, 256]) {
  const { path, origin } = findModel(size);
  (report.models as Record<string, unknown>)[`cae${size}`] = { model: path.replace(`${repoRoot}/`, ''), origin, ...(await benchModel(path, size, images)) };
}
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, 'inspect.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
