import type { BrowserContext, Page } from 'playwright-core';

export interface PageEntry {
  source: string;
  truth?: 'good' | 'defective';
  ok: boolean;
  score?: number;
  verdict: 'anomalous' | 'normal' | 'error';
  latencyMs?: number;
  /** Decode + preprocess, inference and scoring: the parts of latencyMs. */
  preprocessMs?: number;
  inferenceMs?: number;
  scoringMs?: number;
  error?: string;
}

export interface InspectTimings {
  preprocessMs: number;
  inferenceMs: number;
  scoringMs: number;
  totalMs: number;
}

export interface PageState {
  model: string;
  modelError?: string;
  provider?: 'webgpu' | 'wasm';
  attempts: Array<{ provider: string; ok: boolean; reason?: string }>;
  adapter?: { isFallbackAdapter: boolean; vendor: string; architecture: string };
  wasmThreads?: number;
  crossOriginIsolated: boolean;
  card?: { threshold: { value: number }; name: string; family: string };
  threshold?: number;
  auroc?: number;
  entries: PageEntry[];
}

interface Hook {
  ready: Promise<void>;
  state(): PageState;
  inspectUrls(urls: string[], paths?: string[]): Promise<void>;
  /** The inspector alone (no panel rows), one image per call with maps: per-image timings. */
  timeInspect(urls: string[]): Promise<Array<{ source: string; ok: boolean; error?: string; timings?: InspectTimings }>>;
  loadSamples(): Promise<void>;
  loadModel(url: string): Promise<void>;
  setThreshold(value: number): void;
  clear(): void;
}
declare global {
  interface Window {
    __residuum: Hook;
  }
}

/** Opens the dashboard and waits until its default model is loaded (or failed to load). */
export async function openDashboard(context: BrowserContext, url: string): Promise<{ page: Page; consoleErrors: string[] }> {
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().includes('favicon')) consoleErrors.push(message.text());
  });
  await page.goto(url);
  await page.waitForFunction(() => window.__residuum !== undefined);
  await page.evaluate(() => window.__residuum.ready);
  return { page, consoleErrors };
}

export function pageState(page: Page): Promise<PageState> {
  return page.evaluate(() => window.__residuum.state());
}
