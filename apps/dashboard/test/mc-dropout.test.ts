/**
 * An MC-Dropout model (test/fixtures/mc-ae.onnx: RGB, center-crop, mean/std, top-k score, one
 * mask input) through the dashboard: N seeded stochastic passes on WASM and on WebGPU give the
 * scores runtime-node gives (same masks, 1e-4), and the uncertainty map is shown per image.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './support/browser.js';
import { serveStatic, type StaticServer } from './support/static-server.js';
import { openDashboard, pageState, type PageEntry } from './support/dashboard.js';
import { nodeScores, type NodeScore } from './support/node-reference.js';

const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const distDir = join(appDir, 'dist');
const modelPath = join(appDir, 'test', 'fixtures', 'mc-ae.onnx');
const index = JSON.parse(readFileSync(join(distDir, 'models', 'index.json'), 'utf8')) as { samples: string[] };
const samples = [
  ...index.samples.filter((s) => /(^|\/)ok_front\//.test(s)).slice(0, 2),
  ...index.samples.filter((s) => /(^|\/)def_front\//.test(s)).slice(0, 2),
];

let server: StaticServer;
let reference: Map<string, NodeScore>;

beforeAll(async () => {
  server = await serveStatic(distDir, { 'fixtures/mc-ae.onnx': modelPath });
  reference = await nodeScores(modelPath, samples.map((s) => join(distDir, 'samples', s)));
});
afterAll(async () => {
  await server?.close();
});

async function runInBrowser(webgpu: boolean): Promise<{ provider?: string; entries: PageEntry[]; uncertaintyTiles: number }> {
  const browser = await launchChromium({ webgpu });
  try {
    const { page } = await openDashboard(browser.context, `${server.url}?model=fixtures/mc-ae.onnx&provider=${webgpu ? 'webgpu' : 'wasm'}`);
    const state = await pageState(page);
    expect(state.modelError).toBeUndefined();
    expect(state.card?.name).toBe('mc-ae-fixture');
    await expect(page.locator('[data-role="card-mc"]').textContent()).resolves.toMatch(/6 passes, 1 dropout layer/);
    await page.evaluate(([u, p]) => window.__residuum.inspectUrls(u, p), [samples.map((s) => `samples/${s}`), samples] as const);
    const after = await pageState(page);
    mkdirSync(join(appDir, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(appDir, 'test-results', `dashboard-mc-${webgpu ? 'webgpu' : 'wasm'}.png`) });
    return { provider: after.provider, entries: after.entries, uncertaintyTiles: await page.locator('canvas[data-role="uncertainty"]').count() };
  } finally {
    await browser.close();
  }
}

function expectMatchesNode(entries: PageEntry[]): void {
  expect(entries).toHaveLength(samples.length);
  entries.forEach((entry, i) => {
    const node = reference.get(join(distDir, 'samples', samples[i]))!;
    expect(entry, entry.error).toMatchObject({ source: samples[i], ok: true });
    expect(Math.abs(entry.score! - node.score), samples[i]).toBeLessThan(1e-4);
    expect(entry.verdict === 'anomalous', samples[i]).toBe(node.isAnomalous);
  });
}

test('MC-Dropout on WASM: same seeded passes and scores as runtime-node, uncertainty shown', async () => {
  // The fixture's threshold splits these samples, so the verdict check is not vacuous.
  expect(new Set([...reference.values()].map((r) => r.isAnomalous)).size).toBe(2);
  const wasm = await runInBrowser(false);
  expect(wasm.provider).toBe('wasm');
  expectMatchesNode(wasm.entries);
  expect(wasm.uncertaintyTiles).toBe(samples.length);
});

test('MC-Dropout on WebGPU (SwiftShader): same scores as runtime-node', async () => {
  const gpu = await runInBrowser(true);
  expect(gpu.provider).toBe('webgpu');
  expectMatchesNode(gpu.entries);
  expect(gpu.uncertaintyTiles).toBe(samples.length);
});
