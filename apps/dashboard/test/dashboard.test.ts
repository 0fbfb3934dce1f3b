/**
 * The built dashboard in Debian's chromium (headless, no WebGPU flag: requestAdapter() gives
 * null, so 'auto' must end on WASM and say why): default model, sample images, scores equal
 * to runtime-node's, live threshold, ROC, bad inputs, screenshot.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { loadModelCard } from '@residuum/inspection';
import { fingerprintFiles } from '@residuum/imaging';
import { describeVerdictCounts, relativeToCommonFolder, verdictCounts, type CalibrationRecord } from '@residuum/scoring';
import { launchChromium, type LaunchedBrowser } from './support/browser.js';
import { serveStatic, type StaticServer } from './support/static-server.js';
import { openDashboard, pageState, type PageState } from './support/dashboard.js';
import { nodeScores, type NodeScore } from './support/node-reference.js';

const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const distDir = join(appDir, 'dist');
const resultsDir = join(appDir, 'test-results');
const index = JSON.parse(readFileSync(join(distDir, 'models', 'index.json'), 'utf8')) as { default: string; samples: string[] };

let server: StaticServer;
let browser: LaunchedBrowser;
let page: Page;
let consoleErrors: string[];
let reference: Map<string, NodeScore>;

beforeAll(async () => {
  server = await serveStatic(distDir);
  browser = await launchChromium({ webgpu: false });
  ({ page, consoleErrors } = await openDashboard(browser.context, server.url));
  reference = await nodeScores(
    join(distDir, 'models', index.default),
    index.samples.map((sample) => join(distDir, 'samples', sample)),
  );
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('dashboard on WASM (no WebGPU adapter)', () => {
  test('loads the default model on WASM and records why WebGPU was not used', async () => {
    const state = await pageState(page);
    expect(state.modelError).toBeUndefined();
    expect(state.model).toBe(index.default);
    expect(state.provider).toBe('wasm');
    expect(state.attempts).toHaveLength(2);
    expect(state.attempts[0]).toMatchObject({ provider: 'webgpu', ok: false });
    expect(state.attempts[0].reason).toMatch(/requestAdapter\(\) returned null/);
    expect(state.attempts[1]).toEqual({ provider: 'wasm', ok: true });
    // Served with COOP/COEP: cross-origin isolated, so WASM may use threads.
    expect(state.crossOriginIsolated).toBe(true);
    await expect(page.locator('[data-role="card-provider"]').textContent()).resolves.toMatch(/^WASM, \d+ thread/);
    await expect(page.locator('[data-role="card-family"]').textContent()).resolves.toBe(state.card?.family);
  });

  test('timeInspect (the benchmark hook) runs the inspector alone: timings per image, nothing added to the page', async () => {
    const rowsBefore = await page.locator('tr[data-source]').count();
    const timed = await page.evaluate((urls) => window.__residuum.timeInspect(urls), index.samples.slice(0, 2).map((s) => `samples/${s}`));
    expect(timed.map((t) => t.ok)).toEqual([true, true]);
    for (const { timings } of timed) {
      expect(timings!.inferenceMs).toBeGreaterThan(0);
      expect(timings!.totalMs).toBeCloseTo(timings!.preprocessMs + timings!.inferenceMs + timings!.scoringMs, 6);
    }
    await expect(page.locator('tr[data-source]').count()).resolves.toBe(rowsBefore);
    await expect(page.evaluate((urls) => window.__residuum.timeInspect(urls), ['samples/missing.jpg'])).rejects.toThrow(/samples\/missing\.jpg: HTTP 404/);
  });

  test('scores the sample images exactly like runtime-node (within 1e-4, same verdicts)', async () => {
    await page.evaluate(() => window.__residuum.loadSamples());
    const state = await pageState(page);
    expect(state.entries).toHaveLength(index.samples.length);
    for (const entry of state.entries) {
      expect(entry.ok, `${entry.source}: ${entry.error}`).toBe(true);
      const node = reference.get(join(distDir, 'samples', entry.source));
      expect(node, entry.source).toBeDefined();
      // 1e-4, relative once scores exceed 1 (the default DFR's scores are 1-35: see families.test.ts).
      expect(Math.abs(entry.score! - node!.score) / Math.max(1, Math.abs(node!.score)), entry.source).toBeLessThan(1e-4);
      expect(entry.verdict === 'anomalous', entry.source).toBe(node!.isAnomalous);
      expect(entry.latencyMs).toBeGreaterThan(0);
    }
    // The page shows the same numbers the hook reports.
    const rows = await page.locator('tr[data-source]').evaluateAll((trs) =>
      trs.map((tr) => ({ source: (tr as HTMLElement).dataset.source, score: Number((tr as HTMLElement).dataset.score), verdict: (tr as HTMLElement).dataset.verdict })),
    );
    expect(rows).toHaveLength(index.samples.length);
    for (const row of rows) {
      const entry = state.entries.find((e) => e.source === row.source)!;
      expect(row.score).toBe(entry.score);
      expect(row.verdict).toBe(entry.verdict);
    }
    // Every row shows input and heatmap tiles, and a reconstruction tile when the model has one (the default DFR has none).
    const hasReconstruction = (await page.locator('tr[data-source] [data-role="no-reconstruction"]').count()) === 0;
    await expect(page.locator('tr[data-source] canvas').count()).resolves.toBe((hasReconstruction ? 3 : 2) * index.samples.length);
  });

  test('moving the threshold slider re-judges every image live', async () => {
    const before = await pageState(page);
    const scores = before.entries.map((entry) => entry.score!).sort((a, b) => a - b);
    const median = scores[Math.floor(scores.length / 2)];
    const slider = page.locator('[data-role="threshold-slider"]');
    const max = Number(await slider.getAttribute('max'));
    const step = Number(await slider.getAttribute('step'));
    // A slider position (a multiple of its step) near the median score.
    const target = Math.min(max, Math.round(median / step) * step);
    await slider.fill(String(target));
    const after = await pageState(page);
    expect(after.threshold).toBeCloseTo(target, 12);
    const expectedAnomalous = after.entries.filter((entry) => entry.score! >= after.threshold!).length;
    expect(after.entries.filter((entry) => entry.verdict === 'anomalous')).toHaveLength(expectedAnomalous);
    expect(expectedAnomalous).toBeGreaterThan(0);
    expect(expectedAnomalous).toBeLessThan(after.entries.length);
    const domAnomalous = await page.locator('tr[data-verdict="anomalous"]').count();
    expect(domAnomalous).toBe(expectedAnomalous);
    await expect(page.locator('[data-role="summary"]').getAttribute('data-anomalous')).resolves.toBe(String(expectedAnomalous));
    // Slider at zero: everything is anomalous; at the top: nothing is (max > every score).
    await slider.fill('0');
    await expect(page.locator('tr[data-verdict="anomalous"]').count()).resolves.toBe(after.entries.length);
    await slider.fill(String(max));
    await expect(page.locator('tr[data-verdict="anomalous"]').count()).resolves.toBe(0);
    // Verdicts of the card's threshold match runtime-node's again.
    await page.locator('[data-role="threshold-reset"]').click();
    const reset = await pageState(page);
    expect(reset.threshold).toBe(reset.card!.threshold.value);
  });

  test('shows a ROC curve whose AUROC matches the scores (folder names give the truth)', async () => {
    const state = await pageState(page);
    const good = state.entries.filter((entry) => entry.truth === 'good').map((entry) => entry.score!);
    const defective = state.entries.filter((entry) => entry.truth === 'defective').map((entry) => entry.score!);
    expect(good.length).toBeGreaterThan(0);
    expect(defective.length).toBeGreaterThan(0);
    expect(good.length + defective.length).toBe(state.entries.length);
    // Mann-Whitney U / (n_good * n_defective), ties counted half: the AUROC by another route.
    let wins = 0;
    for (const d of defective) for (const g of good) wins += d > g ? 1 : d === g ? 0.5 : 0;
    const expected = wins / (good.length * defective.length);
    expect(state.auroc).toBeCloseTo(expected, 10);
    await expect(page.locator('[data-role="roc"]').isVisible()).resolves.toBe(true);
    await expect(page.locator('[data-role="roc"]').getAttribute('data-auroc')).resolves.toBe(String(state.auroc));
  });

  test('shows recall and false-alarm rate live, and saves the model with the slider threshold in its card', async () => {
    const state = await pageState(page);
    const scores = state.entries.map((entry) => entry.score!).sort((a, b) => a - b);
    const slider = page.locator('[data-role="threshold-slider"]');
    const step = Number(await slider.getAttribute('step'));
    await slider.fill(String(Math.round(scores[Math.floor(scores.length / 2)] / step) * step));
    const after = await pageState(page);
    const labels = after.entries.map((entry) => (entry.truth === 'defective' ? 1 : 0));
    const counts = verdictCounts(after.entries.map((entry) => entry.score!), labels, after.threshold!);
    const rates = page.locator('[data-role="rates"]');
    await expect(rates.textContent()).resolves.toContain(describeVerdictCounts(counts, 'at this threshold'));
    await expect(rates.getAttribute('data-recall')).resolves.toBe(String(counts.recall!.estimate));

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-role="save-model"]').click()]);
    expect(download.suggestedFilename()).toMatch(/^default-threshold-[\d.e+-]+\.onnx$/);
    const saved = loadModelCard(new Uint8Array(readFileSync(await download.path())));
    expect(saved.threshold.value).toBe(after.threshold);
    expect(saved.threshold.method).toBe('manual');
    const record = (saved.extras as { calibration: CalibrationRecord }).calibration;
    expect(record.previousThreshold.value).toBe(after.card!.threshold.value);
    expect(record.expected?.recall?.successes).toBe(counts.caught);
    expect(record.expected?.falseAlarmRate.successes).toBe(counts.rejected);
    // Each labelled set carries the fingerprint `residuum calibrate` records for the same files (imaging's fingerprintFiles, read from disk).
    for (const role of ['good', 'defective'] as const) {
      const sources = after.entries.filter((entry) => entry.truth === role).map((entry) => entry.source);
      const { relPaths } = relativeToCommonFolder(sources);
      const expected = await fingerprintFiles(sources.map((source, i) => ({ path: join(distDir, 'samples', source), relPath: relPaths[i] })));
      expect(record.sets.find((set) => set.role === role)).toMatchObject({ count: sources.length, fingerprint: expected });
    }
    await page.locator('[data-role="threshold-reset"]').click();
  });

  test('sorts the list by score', async () => {
    await page.locator('th[data-sort="score"]').click();
    const descending = await page.locator('tr[data-source]').evaluateAll((trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.score)));
    expect(descending).toEqual([...descending].sort((a, b) => b - a));
    await page.locator('th[data-sort="score"]').click();
    const ascending = await page.locator('tr[data-source]').evaluateAll((trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.score)));
    expect(ascending).toEqual([...ascending].sort((a, b) => a - b));
  });

  test('takes a screenshot of the session', async () => {
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, 'dashboard-wasm.png');
    await page.screenshot({ path: file, fullPage: false });
    expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
  });

  test('a corrupt image becomes an error row; the others are still scored', async () => {
    await page.evaluate(() => window.__residuum.clear());
    const good = readFileSync(join(distDir, 'samples', index.samples[0]));
    await page.locator('input[data-role="pick-files"]').setInputFiles([
      { name: 'broken.jpeg', mimeType: 'image/jpeg', buffer: good.subarray(0, 200) },
      { name: 'not-an-image.jpeg', mimeType: 'image/jpeg', buffer: Buffer.from('hello, not a JPEG') },
      { name: 'fine.jpeg', mimeType: 'image/jpeg', buffer: good },
    ]);
    await page.waitForFunction(() => window.__residuum.state().entries.length === 3);
    const state = await pageState(page);
    const bySource = new Map(state.entries.map((entry) => [entry.source, entry]));
    expect(bySource.get('broken.jpeg')).toMatchObject({ ok: false, verdict: 'error' });
    expect(bySource.get('broken.jpeg')!.error).toMatch(/could not decode image broken\.jpeg/);
    expect(bySource.get('not-an-image.jpeg')).toMatchObject({ ok: false, verdict: 'error' });
    expect(bySource.get('fine.jpeg')).toMatchObject({ ok: true });
    const node = reference.get(join(distDir, 'samples', index.samples[0]))!;
    expect(Math.abs(bySource.get('fine.jpeg')!.score! - node.score) / Math.max(1, Math.abs(node.score))).toBeLessThan(1e-4);
    await expect(page.locator('tr[data-verdict="error"]').count()).resolves.toBe(2);
    await expect(page.locator('tr[data-source="broken.jpeg"]').textContent()).resolves.toMatch(/could not decode/);
  });

  test('a bad model file shows its reason on the page and keeps the working model and its results; a good one loads again', async () => {
    const before: PageState = await pageState(page);
    expect(before.entries.length).toBeGreaterThan(0);
    const familyBefore = await page.locator('[data-role="card-family"]').textContent();
    await page.locator('input[data-role="model-file"]').setInputFiles([
      { name: 'broken.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from('this is not an onnx model') },
    ]);
    await page.waitForFunction(() => window.__residuum.state().modelError !== undefined);
    let state: PageState = await pageState(page);
    expect(state.modelError).toMatch(new RegExp(`broken\\.onnx: .*not an ONNX file.*\\(still using ${before.model.replace(/[.]/g, '\\.')}; its results are kept\\)`));
    await expect(page.locator('[data-role="model-error"]').isVisible()).resolves.toBe(true);
    await expect(page.locator('header h1').isVisible()).resolves.toBe(true);
    expect(state.model).toBe(before.model);
    expect(state.provider).toBe(before.provider);
    expect(state.entries).toEqual(before.entries);
    await expect(page.locator('[data-role="card-family"]').textContent()).resolves.toBe(familyBefore);
    await expect(page.locator('[data-role="model-select"]').inputValue()).resolves.toBe(before.model);

    await page.evaluate(() => window.__residuum.loadModel('models/does-not-exist.onnx'));
    state = await pageState(page);
    expect(state.modelError).toMatch(/HTTP 404/);
    expect(state.entries).toEqual(before.entries);

    // A valid model from disk (the same bytes as the default) through the file picker.
    await page.locator('input[data-role="model-file"]').setInputFiles([
      { name: 'again.onnx', mimeType: 'application/octet-stream', buffer: readFileSync(join(distDir, 'models', index.default)) },
    ]);
    await page.waitForFunction(() => window.__residuum.state().model === 'again.onnx');
    state = await pageState(page);
    expect(state.modelError).toBeUndefined();
    expect(state.model).toBe('again.onnx');
    expect(state.provider).toBe('wasm');
  });

  test('picking a folder inspects its images with their relative paths, and folder names give the ROC', async () => {
    await page.evaluate(() => window.__residuum.clear());
    await page.locator('input[data-role="pick-folder"]').setInputFiles(join(distDir, 'samples', 'casting'));
    await page.waitForFunction((n) => window.__residuum.state().entries.length === n, index.samples.length);
    const state = await pageState(page);
    const sources = state.entries.map((entry) => entry.source).sort();
    expect(sources).toEqual([...index.samples].sort());
    for (const entry of state.entries) {
      expect(entry.truth).toBe(entry.source.includes('/ok_front/') ? 'good' : 'defective');
      const node = reference.get(join(distDir, 'samples', entry.source))!;
      expect(Math.abs(entry.score! - node.score) / Math.max(1, Math.abs(node.score))).toBeLessThan(1e-4);
    }
    expect(state.auroc).toBeGreaterThanOrEqual(0);
    await expect(page.locator('[data-role="roc"]').isVisible()).resolves.toBe(true);
  });

  test('dropping images on the drop zone inspects them; dropping a .onnx loads it as the model', async () => {
    await page.evaluate(() => window.__residuum.clear());
    // Bytes travel into the page as base64 (a JSON array of numbers takes ~20 s per MB under load).
    const drop = async (selector: string, files: Array<{ name: string; base64: string }>) => {
      await page.evaluate(
        ([target, list]) => {
          const transfer = new DataTransfer();
          for (const file of list) transfer.items.add(new File([Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0))], file.name));
          document.querySelector(target)!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        },
        [selector, files] as const,
      );
    };
    const chosen = index.samples.slice(-2);
    await drop('.rsd-drop', chosen.map((sample) => ({ name: sample.split('/').pop()!, base64: readFileSync(join(distDir, 'samples', sample)).toString('base64') })));
    await page.waitForFunction(() => window.__residuum.state().entries.length === 2);
    let state = await pageState(page);
    state.entries.forEach((entry, i) => {
      const node = reference.get(join(distDir, 'samples', chosen[i]))!;
      expect(entry.source).toBe(chosen[i].split('/').pop());
      expect(Math.abs(entry.score! - node.score) / Math.max(1, Math.abs(node.score))).toBeLessThan(1e-4);
    });
    // A model dropped on the drop zone is a model, not an image row.
    await drop('.rsd-drop', [{ name: 'dropped.onnx', base64: readFileSync(join(distDir, 'models', index.default)).toString('base64') }]);
    await page.waitForFunction(() => window.__residuum.state().model === 'dropped.onnx' && window.__residuum.state().provider !== undefined);
    state = await pageState(page);
    expect(state.modelError).toBeUndefined();
    expect(state.entries).toHaveLength(0);
  });

  test('no uncaught page errors', () => {
    expect(consoleErrors.filter((text) => !/Failed to load resource/.test(text))).toEqual([]);
  });
});

describe('embedding (embed.html: the README example)', () => {
  test('mountInspectionPanel in a foreign page inspects picked files like runtime-node', async () => {
    const embedded = await browser.context.newPage();
    try {
      await embedded.goto(`${server.url}embed.html`);
      const picker = embedded.locator('#inspection input[data-role="pick-files"]');
      await picker.waitFor({ state: 'attached' });
      const chosen = index.samples.slice(0, 3);
      await picker.setInputFiles(chosen.map((sample) => join(distDir, 'samples', sample)));
      await embedded.waitForFunction(() => document.title === '3 inspected');
      const rows = await embedded.locator('tr[data-source]').evaluateAll((trs) =>
        trs.map((tr) => ({ source: (tr as HTMLElement).dataset.source!, score: Number((tr as HTMLElement).dataset.score), verdict: (tr as HTMLElement).dataset.verdict })),
      );
      expect(rows.map((row) => row.source)).toEqual(chosen.map((sample) => sample.split('/').pop()));
      rows.forEach((row, i) => {
        const node = reference.get(join(distDir, 'samples', chosen[i]))!;
        expect(Math.abs(row.score - node.score) / Math.max(1, Math.abs(node.score))).toBeLessThan(1e-4);
        expect(row.verdict).toBe(node.isAnomalous ? 'anomalous' : 'normal');
      });
    } finally {
      await embedded.close();
    }
  });
});
