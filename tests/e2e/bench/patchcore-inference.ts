/**
 * Inference speed of an exported PatchCore file (not a unit test): runtime-node's inspector (onnxruntime
 * CPU, 2 threads, map and score included) against the bare backbone it was spliced behind, on the same
 * seeded inputs, so the cost of the memory-bank search is what the two rates differ by.
 *
 *   npx tsx --conditions=@residuum/source tests/e2e/bench/patchcore-inference.ts MODEL.onnx [IMAGES=32] [BATCH=8]
 */
import { statSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as ort from 'onnxruntime-node';
import { createNodeInspector } from '@residuum/runtime-node';
import { backboneCacheDir } from '@residuum/onnx-converter';

const [model, imagesText = '32', batchText = '8'] = process.argv.slice(2);
if (!model) {
  console.error('usage: patchcore-inference.ts MODEL.onnx [IMAGES] [BATCH]');
  process.exit(2);
}
const images = Number(imagesText);
const batch = Number(batchText);
const inspector = await createNodeInspector(model, { provider: 'cpu', threads: 2, batchSize: batch });
const [, channels, height, width] = inspector.card.input.shape as [string, number, number, number];
const extras = inspector.card.extras?.patchcore as { bankSize: number; dim: number } | undefined;
let state = 12345;
const random = () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32) * 200 - 100;
const inputs = Array.from({ length: images }, () => Float32Array.from({ length: channels * height * width }, random));
const tensors = inputs.map((data, i) => ({ source: `image-${i}`, input: { data, channels, height, width } }));

await inspector.inspectTensors(tensors.slice(0, batch)); // warm-up
// CPU seconds of this process per image: on a shared machine the wall rate is a lower bound, and
// 2 idle cores give at most 2 / (CPU seconds per image) images/s.
const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
};
let start = performance.now();
let cpu = process.cpuUsage();
const results = await inspector.inspectTensors(tensors);
const fullSeconds = (performance.now() - start) / 1000;
const fullCpu = cpuSeconds(cpu);
await inspector.dispose();
if (results.some((r) => !r.ok)) throw new Error('an image failed');

const backbonePath = `${backboneCacheDir()}/resnet50-${width}.onnx`;
const session = await ort.InferenceSession.create(backbonePath, { executionProviders: ['cpu'], intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
const plane = channels * height * width;
const runBackbone = async (from: number, count: number) => {
  const data = new Float32Array(count * plane);
  for (let i = 0; i < count; i++) data.set(inputs[from + i], i * plane);
  await session.run({ input: new ort.Tensor('float32', data, [count, channels, height, width]) });
};
await runBackbone(0, batch);
start = performance.now();
cpu = process.cpuUsage();
for (let i = 0; i < images; i += batch) await runBackbone(i, Math.min(batch, images - i));
const backboneSeconds = (performance.now() - start) / 1000;
const backboneCpu = cpuSeconds(cpu);
await session.release();

console.log(
  JSON.stringify(
    {
      model,
      fileMB: statSync(model).size / 1e6,
      bank: extras ? `${extras.bankSize} x ${extras.dim}` : null,
      input: `${width}x${height}`,
      images,
      batch,
      threads: 2,
      imagesPerSecond: images / fullSeconds,
      backboneOnlyImagesPerSecond: images / backboneSeconds,
      cpuSecondsPerImage: fullCpu / images,
      backboneOnlyCpuSecondsPerImage: backboneCpu / images,
      imagesPerSecondOnTwoIdleCoresAtMost: 2 / (fullCpu / images),
      loadAverage: loadavg().map((v) => Number(v.toFixed(2))),
    },
    null,
    2,
  ),
);
