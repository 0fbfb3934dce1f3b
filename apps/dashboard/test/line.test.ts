/**
 * Line mode in Debian's chromium against a running line service (its own process, on loopback):
 * the feed shows the parts with their heatmaps, live parts arrive over Server-Sent Events, the
 * defect rate is drawn, the last anomalies are listed, and the model and its threshold shown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { launchChromium, type LaunchedBrowser } from './support/browser.js';
import { serveStatic, type StaticServer } from './support/static-server.js';

const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(appDir, '..', '..');
const serviceChild = join(repoRoot, 'apps', 'line-service', 'test', 'fixtures', 'serve-child.ts');
const sampleDir = join(repoRoot, 'models', 'samples', 'casting', 'ok_front');
const goodImages = readdirSync(sampleDir).slice(0, 4).map((name) => readFileSync(join(sampleDir, name)));

let dashboard: StaticServer;
let browser: LaunchedBrowser;
let child: ChildProcess;
let serviceUrl: string;
let dataDir: string;
let page: Page;

async function post(bytes: Uint8Array, partId: string): Promise<{ id: string; verdict: string }> {
  const response = await fetch(`${serviceUrl}/v1/inspect?partId=${partId}`, { method: 'POST', body: bytes as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'application/octet-stream' } });
  return (await response.json()) as { id: string; verdict: string };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'residuum-line-dashboard-'));
  child = spawn(process.execPath, ['--conditions=@residuum/source', '--import', 'tsx', serviceChild, JSON.stringify({ dataDir, watchDir: false })], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: repoRoot,
  });
  serviceUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\S+)/.exec(out);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`line service exited with ${code}`)));
  });
  dashboard = await serveStatic(join(appDir, 'dist'));
  browser = await launchChromium({ webgpu: false });
});

afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('line mode', () => {
  test('history on connect, then live parts with heatmaps, defect rate, last anomalies, model and threshold', async () => {
    const before = [await post(goodImages[0], 'before-1'), await post(goodImages[1], 'before-2')];
    expect(before.map((r) => r.verdict)).toEqual(['ok', 'ok']);

    page = await browser.context.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) consoleErrors.push(message.text());
    });
    // Every request but the browser's favicon probe succeeds (heatmaps, results, models, events).
    page.on('response', (response) => {
      if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) consoleErrors.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(`${dashboard.url}line.html?service=${encodeURIComponent(serviceUrl)}`);
    await page.locator('[data-role="connection"]', { hasText: 'live' }).waitFor({ timeout: 20_000 });
    await expect(page.locator('.part').count()).resolves.toBe(2);
    await expect(page.locator('[data-role="model-name"]').textContent()).resolves.toMatch(/^cae-64px-grey/);
    const threshold = Number(await page.locator('[data-role="model-threshold"]').textContent());
    expect(threshold).toBeCloseTo(0.1659, 3);

    // Live: a good part and a defective one (a white square pasted on a casting image).
    const defect = await sharp(goodImages[2])
      .composite([{ input: { create: { width: 120, height: 120, channels: 3, background: '#ffffff' } }, left: 90, top: 90 }])
      .png()
      .toBuffer();
    await post(goodImages[3], 'live-ok');
    const anomalous = await post(defect, 'live-defect');
    expect(anomalous.verdict).toBe('anomalous');
    await page.locator(`.part[data-id="${anomalous.id}"]`).waitFor({ timeout: 10_000 });
    await expect(page.locator('.part').count()).resolves.toBe(4);
    await expect(page.locator(`.part[data-id="${anomalous.id}"]`).getAttribute('data-verdict')).resolves.toBe('anomalous');
    await expect(page.locator('[data-role="count-anomalous"]').textContent()).resolves.toBe('1');
    await expect(page.locator('[data-role="count-ok"]').textContent()).resolves.toBe('3');
    await expect(page.locator('[data-role="anomalies"] li').first().getAttribute('data-id')).resolves.toBe(anomalous.id);
    await expect(page.locator('[data-role="anomalies"] li').first().textContent()).resolves.toMatch(/^live-defect/);

    // Heatmaps are loaded from the service (cross-origin, from a cross-origin isolated page).
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.part img')].every((img) => img.complete && img.naturalWidth > 0), null, { timeout: 10_000 });
    await expect(page.locator('.part img').count()).resolves.toBe(4);
    await expect(page.locator('[data-role="defect-rate-line"]').count()).resolves.toBe(1);
    expect(consoleErrors).toEqual([]);
    await page.screenshot({ path: join(appDir, 'test-results', 'line-mode.png'), fullPage: true });
  });

  test('a service that cannot be reached is a clear error, not an empty page', async () => {
    const other = await browser.context.newPage();
    await other.goto(`${dashboard.url}line.html?service=${encodeURIComponent('http://127.0.0.1:9')}`);
    await other.locator('[data-role="line-error"]').waitFor({ state: 'visible', timeout: 10_000 });
    await expect(other.locator('[data-role="line-error"]').textContent()).resolves.toMatch(/cannot reach the line service at http:\/\/127\.0\.0\.1:9/);
  });
});
