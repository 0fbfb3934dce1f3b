/**
 * WebGPU in headless chromium: --enable-unsafe-webgpu gives a SwiftShader adapter
 * (isFallbackAdapter: true). 'auto' must pick WebGPU there, and its scores must equal WASM's
 * and runtime-node's (1e-4). Slow (software GPU), so a handful of images only.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, type LaunchedBrowser } from './support/browser.js';
import { serveStatic, type StaticServer } from './support/static-server.js';
import { openDashboard, pageState } from './support/dashboard.js';
import { nodeScores } from './support/node-reference.js';

const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const distDir = join(appDir, 'dist');
const index = JSON.parse(readFileSync(join(distDir, 'models', 'index.json'), 'utf8')) as { default: string; samples: string[] };
// One good and one defective image: a trained default model on SwiftShader takes seconds per inference.
const samples = [
  ...index.samples.filter((s) => /(^|\/)ok_front\//.test(s)).slice(0, 1),
  ...index.samples.filter((s) => /(^|\/)def_front\//.test(s)).slice(0, 1),
];
// Software WebGPU is slow for a real model; this bounds a hang, it does not time anything.
const SOFTWARE_GPU_TIMEOUT_MS = 300_000;

let server: StaticServer;
let browser: LaunchedBrowser;

beforeAll(async () => {
  server = await serveStatic(distDir);
  browser = await launchChromium({ webgpu: true });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

test('auto picks WebGPU when an adapter exists, and WebGPU = WASM = runtime-node within 1e-4', async () => {
  expect(samples).toHaveLength(2);
  const urls = samples.map((s) => `samples/${s}`);

  const gpu = await openDashboard(browser.context, `${server.url}?provider=auto`);
  const gpuState = await pageState(gpu.page);
  expect(gpuState.modelError).toBeUndefined();
  expect(gpuState.provider).toBe('webgpu');
  expect(gpuState.attempts).toEqual([{ provider: 'webgpu', ok: true }]);
  expect(gpuState.adapter?.isFallbackAdapter).toBe(true);
  await expect(gpu.page.locator('[data-role="card-provider"]').textContent()).resolves.toMatch(/^WebGPU/);
  await gpu.page.evaluate(([u, p]) => window.__residuum.inspectUrls(u, p), [urls, samples] as const);
  const onGpu = (await pageState(gpu.page)).entries;
  mkdirSync(join(appDir, 'test-results'), { recursive: true });
  await gpu.page.screenshot({ path: join(appDir, 'test-results', 'dashboard-webgpu.png') });
  await gpu.page.close();

  const wasm = await openDashboard(browser.context, `${server.url}?provider=wasm`);
  const wasmState = await pageState(wasm.page);
  expect(wasmState.provider).toBe('wasm');
  expect(wasmState.attempts).toEqual([{ provider: 'wasm', ok: true }]);
  await wasm.page.evaluate(([u, p]) => window.__residuum.inspectUrls(u, p), [urls, samples] as const);
  const onWasm = (await pageState(wasm.page)).entries;
  await wasm.page.close();

  const node = await nodeScores(join(distDir, 'models', index.default), samples.map((s) => join(distDir, 'samples', s)));
  expect(onGpu).toHaveLength(samples.length);
  expect(onWasm).toHaveLength(samples.length);
  samples.forEach((sample, i) => {
    const reference = node.get(join(distDir, 'samples', sample))!;
    expect(onGpu[i]).toMatchObject({ source: sample, ok: true });
    expect(onWasm[i]).toMatchObject({ source: sample, ok: true });
    // 1e-4, relative once scores exceed 1 (the default DFR's scores are 1-35).
    expect(Math.abs(onGpu[i].score! - onWasm[i].score!) / Math.max(1, Math.abs(onWasm[i].score!)), sample).toBeLessThan(1e-4);
    expect(Math.abs(onGpu[i].score! - reference.score) / Math.max(1, Math.abs(reference.score)), sample).toBeLessThan(1e-4);
    expect(Math.abs(onWasm[i].score! - reference.score) / Math.max(1, Math.abs(reference.score)), sample).toBeLessThan(1e-4);
    expect(onGpu[i].verdict === 'anomalous').toBe(reference.isAnomalous);
    expect(onWasm[i].verdict === 'anomalous').toBe(reference.isAnomalous);
  });
}, SOFTWARE_GPU_TIMEOUT_MS);

test("provider 'webgpu' without an adapter fails with the reason on the page (no silent WASM)", async () => {
  const plain = await launchChromium({ webgpu: false });
  try {
    const { page } = await openDashboard(plain.context, `${server.url}?provider=webgpu`);
    const state = await pageState(page);
    expect(state.provider).toBeUndefined();
    expect(state.modelError).toMatch(/no execution provider could run the model \(webgpu: navigator\.gpu\.requestAdapter\(\) returned null/);
    await expect(page.locator('[data-role="model-error"]').isVisible()).resolves.toBe(true);
  } finally {
    await plain.close();
  }
});
