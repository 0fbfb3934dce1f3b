/**
 * Child process of webgpu.test.ts: runs a model on the WebGPU provider (started with
 * the SwiftShader Vulkan environment) on the inputs given as JSON on stdin, and prints the
 * results as JSON on stdout. Kept out of the test process because the driver environment
 * must be set before onnxruntime loads.
 */
import { readFileSync } from 'node:fs';
import { createNodeInspector } from '../src/index.js';

const [modelPath, sizeArgument] = process.argv.slice(2);
const size = Number(sizeArgument);
const inputs = JSON.parse(readFileSync(0, 'utf8')) as number[][];
const inspector = await createNodeInspector(modelPath, { provider: 'webgpu', warmup: false, batchSize: inputs.length });
const results = await inspector.inspectTensors(
  inputs.map((values, i) => ({ source: `tensor-${i}`, input: { data: Float32Array.from(values), channels: 1, height: size, width: size } })),
  { returnMaps: true },
);
process.stdout.write(
  JSON.stringify({
    provider: inspector.provider,
    attempts: inspector.attempts,
    results: results.map((r) => (r.ok ? { provider: r.provider, score: r.score, reconstruction: Array.from(r.reconstruction!.data), map: Array.from(r.map!.data) } : r)),
  }),
);
await inspector.dispose();
