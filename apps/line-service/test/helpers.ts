import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startLineService, type LineService, type LineServiceOptions } from '../src/index.js';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** The fast CAE (64 px) the tests run in place of the embedded default (the slower calibrated DFR) unless they name a model. */
export const caeModel = join(repoRoot, 'models', 'cae-casting.onnx');
export const dfrModel = join(repoRoot, 'models', 'dfr-casting.onnx');
const sampleRoot = join(repoRoot, 'models', 'samples', 'casting');

/** The 24 embedded casting images (12 good, 12 defective), path and bytes. */
export const samples: Array<{ path: string; bytes: Uint8Array }> = ['ok_front', 'def_front'].flatMap((dir) =>
  readdirSync(join(sampleRoot, dir))
    .filter((name) => name.endsWith('.jpeg'))
    .sort()
    .map((name) => ({ path: join(sampleRoot, dir, name), bytes: new Uint8Array(readFileSync(join(sampleRoot, dir, name))) })),
);

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `residuum-line-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A service on a free loopback port, quiet logs. */
export function startTestService(dataDir: string, options: LineServiceOptions = {}): Promise<LineService> {
  return startLineService({ port: 0, dataDir, logger: pino({ level: 'error' }), quietMs: 100, provider: 'cpu', fallbackModel: caeModel, ...options });
}

export async function postImage(
  url: string,
  bytes: Uint8Array,
  { contentType = 'image/jpeg', query = '' }: { contentType?: string; query?: string } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${url}/v1/inspect${query}`, { method: "POST", body: bytes as Uint8Array<ArrayBuffer>, headers: { 'content-type': contentType } });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text };
  }
  return { status: response.status, body, headers: response.headers };
}

/** Runs `count` jobs on `clients` concurrent workers. */
export async function runClients<T>(count: number, clients: number, job: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await job(index);
      }
    }),
  );
  return results;
}

/** A casting image with a white square pasted in: the default model calls it anomalous. */
export async function syntheticDefect(): Promise<Uint8Array> {
  const { default: sharp } = await import('sharp');
  const png = await sharp(samples[0].bytes)
    .composite([{ input: { create: { width: 120, height: 120, channels: 3, background: '#ffffff' } }, left: 90, top: 90 }])
    .png()
    .toBuffer();
  return new Uint8Array(png);
}

export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
