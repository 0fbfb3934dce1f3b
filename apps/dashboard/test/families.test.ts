/**
 * The two issue-#7 families in the built dashboard (test/fixtures/families, see its README):
 * - DFR: one graph whose output `feature_error` [N,1,8,8] is the anomaly map (score.map.kind
 *   'model-output'), no reconstruction;
 * - f-AnoGAN: reconstruction + discriminator feature residual (score = map mean + kappa * residual).
 * Each is opened the way a user does (file picker, resp. dropped on the page), scores the 24 casting
 * samples on WASM like runtime-node (1e-4, same verdicts at the card's threshold and at one that splits
 * the samples), shows its card as its family needs it and draws a heatmap per image; one is also run
 * on WebGPU (SwiftShader, 2 images).
 * - DFR spliced behind an ONNX backbone (`--backbone resnet50`'s export) on a tiny ResNet-shaped stand-in,
 *   float32 and fp16 storage (`--fp16`): the same checks, and fp16 within its stated tolerance of float32;
 * - PatchCore spliced the same way (memory bank in the graph), float32 and fp16 storage.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchChromium, type LaunchedBrowser } from './support/browser.js';
import { serveStatic, type StaticServer } from './support/static-server.js';
import { openDashboard, pageState, type PageEntry } from './support/dashboard.js';
import { nodeScores, type NodeScore } from './support/node-reference.js';
import { FP16_STORAGE_SCORE_TOLERANCE } from '@residuum/onnx-converter';

const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const distDir = join(appDir, 'dist');
const fixturesDir = join(appDir, 'test', 'fixtures', 'families');
const resultsDir = join(appDir, 'test-results');
const index = JSON.parse(readFileSync(join(distDir, 'models', 'index.json'), 'utf8')) as { default: string; samples: string[] };
const samplePath = (sample: string): string => join(distDir, 'samples', sample);

interface Family {
  file: string;
  name: string;
  family: 'dfr' | 'fanogan' | 'patchcore';
  /** How the model gets into the page. */
  open: 'pick' | 'drop';
  /** Image tiles per row: input, (reconstruction), heatmap. */
  tiles: number;
  /** What the card's score line must say for this family. */
  score: RegExp;
  /** Model input side (the heatmap's size: DFR's 8x8 map is upsampled to it). */
  size: number;
  /** PatchCore: the card's local pooling row (the window the taps were averaged over), shown as the card states it. */
  localPooling?: string;
}

const PATCHCORE_SCORE = /nearest-neighbour distance map \(memory bank, no reconstruction\) output by the model \('patch_distance', 16×16, upsampled to 128×128\), smoothed after upsampling \(sigma 4 px\); image = max of the map/;
// These fixtures were trained with the default window (their card predates the localWindow option).
const PATCHCORE_POOLING = '3x3 average, stride 1, same padding (padding cells not counted)';
const families: Family[] = [
  { file: 'dfr.onnx', name: 'dfr-fixture', family: 'dfr', open: 'pick', tiles: 2, size: 64, score: /feature error map output by the model \('feature_error', 8×8, upsampled to 64×64\)/ },
  { file: 'fanogan.onnx', name: 'fanogan-fixture', family: 'fanogan', open: 'drop', tiles: 3, size: 32, score: /\+ 1 × discriminator feature residual \('disc_feature_residual'\)/ },
  // DFR spliced behind an ONNX backbone (what `--backbone resnet50` exports), on a tiny ResNet-shaped
  // stand-in: same ops and splice as the 34 MB ResNet-50 file (bench/spliced-resnet.ts runs the real one).
  { file: 'dfr-spliced.onnx', name: 'dfr-spliced-fixture', family: 'dfr', open: 'pick', tiles: 2, size: 128, score: /feature error map output by the model \('feature_error', 8×8, upsampled to 128×128\)/ },
  // Its `--fp16` export: fp16 storage (weights float16, cast to float32 in the graph).
  { file: 'dfr-spliced-fp16.onnx', name: 'dfr-spliced-fixture', family: 'dfr', open: 'drop', tiles: 2, size: 128, score: /feature error map output by the model \('feature_error', 8×8, upsampled to 128×128\)/ },
  // PatchCore on the same stand-in (memory bank in the graph), float32 and fp16 storage (bank float16, norms float32).
  { file: 'patchcore-spliced.onnx', name: 'patchcore-spliced-fixture', family: 'patchcore', open: 'pick', tiles: 2, size: 128, score: PATCHCORE_SCORE, localPooling: PATCHCORE_POOLING },
  { file: 'patchcore-spliced-fp16.onnx', name: 'patchcore-spliced-fixture', family: 'patchcore', open: 'drop', tiles: 2, size: 128, score: PATCHCORE_SCORE, localPooling: PATCHCORE_POOLING },
];

let server: StaticServer;
let browser: LaunchedBrowser;
let page: Page;
let consoleErrors: string[];
const reference = new Map<string, Map<string, NodeScore>>();

beforeAll(async () => {
  server = await serveStatic(distDir, Object.fromEntries(families.map((f) => [`fixtures/${f.file}`, join(fixturesDir, f.file)])));
  for (const f of families) reference.set(f.file, await nodeScores(join(fixturesDir, f.file), index.samples.map(samplePath)));
  browser = await launchChromium({ webgpu: false });
  ({ page, consoleErrors } = await openDashboard(browser.context, server.url));
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Opens a model like a user: the "Open .onnx" picker, or a file dropped anywhere on the page. */
async function openModel(target: Page, f: Family): Promise<void> {
  const path = join(fixturesDir, f.file);
  if (f.open === 'pick') {
    await target.locator('input[data-role="model-file"]').setInputFiles(path);
  } else {
    await target.evaluate(
      ([name, bytes]) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], name));
        document.querySelector('main')!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      },
      [f.file, [...readFileSync(path)]] as const,
    );
  }
  await target.waitForFunction((file) => {
    const state = window.__residuum.state();
    return state.model === file && state.provider !== undefined;
  }, f.file);
}

function expectLikeNode(f: Family, entries: readonly PageEntry[], samples: readonly string[], threshold?: number): void {
  const node = reference.get(f.file)!;
  expect(entries.map((entry) => entry.source)).toEqual([...samples]);
  for (const entry of entries) {
    expect(entry.ok, `${entry.source}: ${entry.error}`).toBe(true);
    const expected = node.get(samplePath(entry.source))!;
    // 1e-4, relative once scores exceed 1: DFR divides its map by per-position scales of ~0.04 (position
    // standardization), which turns the ~6e-6 relative float32 difference between onnxruntime-web's and
    // onnxruntime-node's kernels on `feature_error` into up to ~6e-5 absolute on scores of 1..15.
    expect(Math.abs(entry.score! - expected.score) / Math.max(1, Math.abs(expected.score)), entry.source).toBeLessThan(1e-4);
    const anomalous = threshold === undefined ? expected.isAnomalous : expected.score >= threshold;
    expect(entry.verdict === 'anomalous', entry.source).toBe(anomalous);
  }
}

/** Per row: the canvases, and for the heatmap its size and how many distinct colours it has. */
function readTiles(target: Page): Promise<Array<{ source: string; canvases: number; reconstructionNote: string | null; heatmap?: { width: number; height: number; colours: number; differsFromInput: boolean } }>> {
  return target.locator('tr[data-source]').evaluateAll((rows) =>
    rows.map((row) => {
      const tr = row as HTMLTableRowElement;
      const pixels = (canvas: HTMLCanvasElement | null) => (canvas ? canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data : undefined);
      const heat = tr.cells[3].querySelector('canvas');
      const input = pixels(tr.cells[1].querySelector('canvas'));
      const data = pixels(heat);
      let heatmap;
      if (heat && data) {
        const colours = new Set<number>();
        for (let i = 0; i < data.length; i += 4) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        heatmap = { width: heat.width, height: heat.height, colours: colours.size, differsFromInput: input === undefined || data.some((v, i) => v !== input[i]) };
      }
      return {
        source: tr.dataset.source!,
        canvases: tr.querySelectorAll('canvas').length,
        reconstructionNote: tr.cells[2].querySelector('[data-role="no-reconstruction"]')?.textContent ?? null,
        heatmap,
      };
    }),
  );
}

describe('DFR and f-AnoGAN in the dashboard on WASM', () => {
  for (const f of families) {
    test(`${f.family} (${f.file}): opened by ${f.open === 'pick' ? 'the file picker' : 'a drop'}, card, 24 samples like runtime-node, heatmaps`, async () => {
      await openModel(page, f);
      let state = await pageState(page);
      expect(state.modelError).toBeUndefined();
      expect(state.provider).toBe('wasm');
      expect(state.card).toMatchObject({ name: f.name, family: f.family });
      const cardText = async (role: string) => page.locator(`[data-role="card-${role}"]`).textContent();
      await expect(cardText('family')).resolves.toBe(f.family);
      await expect(cardText('score')).resolves.toMatch(f.score);
      if (f.localPooling) await expect(cardText('local-pooling')).resolves.toBe(f.localPooling);
      else await expect(page.locator('[data-role="card-local-pooling"]').count()).resolves.toBe(0);
      await expect(cardText('threshold')).resolves.toMatch(/^\d+(\.\d+)? \(quantile; fitted on \d+ scores/);

      await page.locator('[data-role="load-samples"]').click();
      await page.waitForFunction((n) => window.__residuum.state().entries.length === n, index.samples.length);
      state = await pageState(page);
      expect(state.threshold).toBe(state.card!.threshold.value);
      expectLikeNode(f, state.entries, index.samples);

      // The rows show the hook's numbers; each row has its tiles and a heatmap over the input at the model's size.
      const rows = await page.locator('tr[data-source]').evaluateAll((trs) => trs.map((tr) => ({ source: (tr as HTMLElement).dataset.source, score: Number((tr as HTMLElement).dataset.score) })));
      expect(rows).toEqual(state.entries.map((entry) => ({ source: entry.source, score: entry.score })));
      for (const tile of await readTiles(page)) {
        expect(tile.canvases, tile.source).toBe(f.tiles);
        expect(tile.heatmap, tile.source).toMatchObject({ width: f.size, height: f.size, differsFromInput: true });
        expect(tile.heatmap!.colours, tile.source).toBeGreaterThan(16);
        if (f.family !== 'fanogan') expect(tile.reconstructionNote, tile.source).toMatch(/none/);
        else expect(tile.reconstructionNote, tile.source).toBeNull();
      }

      // A threshold between the two middle runtime-node scores splits the samples: same verdicts again.
      const sorted = [...reference.get(f.file)!.values()].map((r) => r.score).sort((a, b) => a - b);
      const middle = sorted.length / 2;
      expect(sorted[middle] - sorted[middle - 1]).toBeGreaterThan(1e-3);
      const split = (sorted[middle - 1] + sorted[middle]) / 2;
      await page.evaluate((t) => window.__residuum.setThreshold(t), split);
      state = await pageState(page);
      expectLikeNode(f, state.entries, index.samples, split);
      await expect(page.locator('tr[data-verdict="anomalous"]').count()).resolves.toBe(middle);
      await expect(page.locator('[data-role="summary"]').getAttribute('data-anomalous')).resolves.toBe(String(middle));

      mkdirSync(resultsDir, { recursive: true });
      await page.screenshot({ path: join(resultsDir, `dashboard-${f.family}-wasm.png`) });
      await page.evaluate(() => window.__residuum.clear());
    });
  }

  test.each(['dfr', 'patchcore'])('%s: the fp16-storage file scores like the float32 one within the stated tolerance, with the same verdicts (runtime-node)', (family) => {
    const full = reference.get(`${family}-spliced.onnx`)!;
    const half = reference.get(`${family}-spliced-fp16.onnx`)!;
    let worst = 0;
    for (const [path, r] of full) {
      const h = half.get(path)!;
      worst = Math.max(worst, Math.abs(h.score - r.score) / Math.abs(r.score));
      expect(h.isAnomalous, path).toBe(r.isAnomalous);
    }
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(FP16_STORAGE_SCORE_TOLERANCE);
  });

  test('no uncaught page errors', () => {
    expect(consoleErrors.filter((text) => !/Failed to load resource/.test(text))).toEqual([]);
  });
});

test('DFR on WebGPU (SwiftShader, 2 images): same scores and verdicts as runtime-node', async () => {
  const f = families[0];
  const samples = [index.samples.find((s) => s.includes('/ok_front/'))!, index.samples.find((s) => s.includes('/def_front/'))!];
  const gpuBrowser = await launchChromium({ webgpu: true });
  try {
    const { page: gpuPage, consoleErrors: gpuErrors } = await openDashboard(gpuBrowser.context, `${server.url}?provider=webgpu&model=fixtures/${f.file}`);
    const state = await pageState(gpuPage);
    expect(state.modelError).toBeUndefined();
    expect(state.provider).toBe('webgpu');
    expect(state.card?.family).toBe('dfr');
    await gpuPage.evaluate(([urls, paths]) => window.__residuum.inspectUrls(urls, paths), [samples.map((s) => `samples/${s}`), samples] as const);
    expectLikeNode(f, (await pageState(gpuPage)).entries, samples);
    const tiles = await readTiles(gpuPage);
    expect(tiles.map((tile) => tile.heatmap?.width)).toEqual([f.size, f.size]);
    await gpuPage.screenshot({ path: join(resultsDir, 'dashboard-dfr-webgpu.png') });
    // onnxruntime-web logs (console.error) a warning that it keeps shape ops on the CPU: not an error.
    expect(gpuErrors.filter((text) => !/Failed to load resource|\[W:onnxruntime:.*VerifyEachNodeIsAssignedToAnEp/.test(text))).toEqual([]);
  } finally {
    await gpuBrowser.close();
  }
});
