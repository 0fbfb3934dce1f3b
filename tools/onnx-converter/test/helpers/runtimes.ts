/** Runs ONNX bytes in onnxruntime-node (CPU) and onnxruntime-web (WASM, in Node). */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';

export interface FloatTensor {
  data: Float32Array;
  dims: number[];
}

export type Feeds = Record<string, FloatTensor>;
export type Outputs = Record<string, FloatTensor>;

const require = createRequire(import.meta.url);
let webConfigured = false;

function configureWeb(): void {
  if (webConfigured) return;
  const distDir = join(dirname(require.resolve('onnxruntime-web')), '/');
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.wasm.wasmPaths = pathToFileURL(distDir).href;
  webConfigured = true;
}

export async function runOrtNode(bytes: Uint8Array, feeds: Feeds): Promise<Outputs> {
  const session = await ortNode.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  try {
    const inputs: Record<string, ortNode.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ortNode.Tensor('float32', t.data, t.dims);
    const result = await session.run(inputs);
    const out: Outputs = {};
    for (const [name, t] of Object.entries(result)) out[name] = { data: t.data as Float32Array, dims: [...t.dims] };
    return out;
  } finally {
    await session.release();
  }
}

export async function runOrtWeb(bytes: Uint8Array, feeds: Feeds): Promise<Outputs> {
  configureWeb();
  const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const inputs: Record<string, ortWeb.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ortWeb.Tensor('float32', t.data, t.dims);
    const result = await session.run(inputs);
    const out: Outputs = {};
    for (const [name, t] of Object.entries(result)) out[name] = { data: t.data as Float32Array, dims: [...t.dims] };
    return out;
  } finally {
    await session.release();
  }
}
