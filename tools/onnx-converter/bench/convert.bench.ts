/**
 * Conversion benchmark on the trainer's model families at their default sizes: conversion
 * time, file size, fp32 and fp16 parity (onnxruntime-node and -web vs TF.js predict) and
 * onnxruntime-node CPU latency. Kernels keep the builders' seeded Glorot initialization (a
 * realistic activation scale); BatchNormalization statistics are randomized. Writes bench-results/convert.json and prints it.
 * Run: npm run bench -w tools/onnx-converter
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { buildModel, resolveModelSpec, type PartialModelSpec } from '@residuum/train';
import { convertLayersModel } from '../src/index.js';
import { compareWithPredict, parityFeeds, randomizeWeights, saveToMemory, tf, useCpuBackend } from '../test/helpers/tfjs-harness.js';

const FAMILIES: PartialModelSpec[] = [
  { family: 'cae' },
  { family: 'ncae' },
  { family: 'vae' },
  { family: 'aesc' },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function latencyMs(bytes: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>, runs: number): Promise<number> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  const inputs = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, new ort.Tensor('float32', t.data, t.dims)]));
  await session.run(inputs); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const start = performance.now();
    await session.run(inputs);
    times.push(performance.now() - start);
  }
  await session.release();
  return median(times);
}

async function main(): Promise<void> {
  await useCpuBackend();
  const results = [];
  for (const partial of FAMILIES) {
    const spec = resolveModelSpec(partial);
    const model = buildModel(spec);
    randomizeWeights(model, 3, { keepKernels: true });
    const artifacts = await saveToMemory(model);
    const convertTimes: number[] = [];
    let fp32 = convertLayersModel(artifacts);
    for (let i = 0; i < 3; i += 1) {
      const start = performance.now();
      fp32 = convertLayersModel(artifacts);
      convertTimes.push(performance.now() - start);
    }
    const fp16 = convertLayersModel({ ...artifacts, fp16: true });
    const parity32 = await compareWithPredict(model, fp32, { batch: 1, seed: 1 });
    const parity16 = await compareWithPredict(model, fp16, { batch: 1, seed: 1 });
    const { feeds } = parityFeeds(model, fp32, 1, 2);
    const entry = {
      family: spec.family,
      input: `${spec.inputSize}x${spec.inputSize}x${spec.channels}`,
      weightsBytes: artifacts.weights.byteLength,
      nodes: fp32.report.nodes,
      foldedBatchNorms: fp32.report.foldedBatchNorms,
      convertMs: Math.round(median(convertTimes) * 10) / 10,
      onnxBytesFp32: fp32.onnx.byteLength,
      onnxBytesFp16: fp16.onnx.byteLength,
      maxAbsDiffFp32: { node: Math.max(...Object.values(parity32.nodeDiff)), web: Math.max(...Object.values(parity32.webDiff)) },
      maxAbsDiffFp16: { node: Math.max(...Object.values(parity16.nodeDiff)), web: Math.max(...Object.values(parity16.webDiff)) },
      ortNodeCpuLatencyMsBatch1: { fp32: await latencyMs(fp32.onnx, feeds, 5), fp16: await latencyMs(fp16.onnx, feeds, 5) },
    };
    results.push(entry);
    console.error(`${spec.family}: done`);
    model.dispose();
  }
  const report = { benchmark: 'onnx-converter', date: new Date().toISOString(), node: process.version, tfjsBackend: tf.getBackend(), results };
  const dir = fileURLToPath(new URL('../bench-results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}convert.json`, `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
}

await main();
