/**
 * The ResNet-50 backbone (layer1-layer3 taps, 224 px): fetch + convert time into a fresh cache
 * folder, file size, and onnxruntime-node CPU feature extraction in images/s at batch 1 and 8
 * (2 intra-op threads, the CI machine's cores), plus decode + Caffe preprocessing per image.
 * Needs the npm registry (or npm's own cache). Writes bench-results/resnet50.json and prints it.
 * Run: npm run bench:resnet50 -w tools/onnx-converter
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { decodeImage } from '@residuum/imaging';
import { preprocessImage } from '@residuum/scoring';
import { getBackbone } from '../src/index.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const threads = Number(process.env.BENCH_THREADS ?? 2);
const cacheDir = mkdtempSync(join(tmpdir(), 'residuum-bench-resnet50-'));
const loadBefore = loadavg()[0];

const fetchStart = performance.now();
const backbone = await getBackbone('resnet50', { cacheDir });
const fetchSeconds = (performance.now() - fetchStart) / 1000;

const sampleDir = join(repo, 'models/samples/casting/ok_front');
const files = readdirSync(sampleDir).filter((f) => f.endsWith('.jpeg')).slice(0, 8);
const preprocessStart = performance.now();
const inputs: Float32Array[] = [];
for (const file of files) inputs.push(preprocessImage(await decodeImage(join(sampleDir, file)), backbone.manifest.preprocessing));
const preprocessMs = (performance.now() - preprocessStart) / files.length;

const session = await ort.InferenceSession.create(backbone.onnxPath, {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  graphOptimizationLevel: 'all',
});

async function imagesPerSecond(batch: number, runs: number): Promise<{ batch: number; runs: number; imagesPerSecond: number; msPerImage: number }> {
  const plane = 3 * 224 * 224;
  const data = new Float32Array(batch * plane);
  for (let b = 0; b < batch; b++) data.set(inputs[b % inputs.length], b * plane);
  const feeds = { input: new ort.Tensor('float32', data, [batch, 3, 224, 224]) };
  await session.run(feeds); // warm-up
  const start = performance.now();
  for (let i = 0; i < runs; i++) await session.run(feeds);
  const seconds = (performance.now() - start) / 1000;
  return { batch, runs, imagesPerSecond: Math.round(((batch * runs) / seconds) * 10) / 10, msPerImage: Math.round(((seconds * 1000) / (batch * runs)) * 10) / 10 };
}

const results = {
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, loadAverage1mBefore: loadBefore, loadAverage1mAfter: loadavg()[0], note: 'shared with other work: numbers are lower bounds' },
  fetchAndConvertSeconds: Math.round(fetchSeconds * 10) / 10,
  conversionSeconds: backbone.manifest.conversionSeconds,
  fileBytes: backbone.manifest.bytes,
  intraOpThreads: threads,
  decodeAndPreprocessMsPerImage: Math.round(preprocessMs * 10) / 10,
  featureExtraction: [await imagesPerSecond(1, 20), await imagesPerSecond(8, 4)],
};
results.machine.loadAverage1mAfter = loadavg()[0];
await session.release();
rmSync(cacheDir, { recursive: true, force: true });
const outDir = join(repo, 'tools/onnx-converter/bench-results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'resnet50.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
