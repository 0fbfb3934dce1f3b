import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

/** ../shared/datasets/<name> from the repo root; a clear failure (not a skip) when it is absent. */
export function sharedDataset(name: string): string {
  const path = resolve(here, '../../../../shared/datasets', name);
  if (!existsSync(path)) {
    throw new Error(`test data missing: ${path} (the tests need ../shared beside the repository, as in CI)`);
  }
  return path;
}

/** A fresh temporary folder for this test file, removed afterwards. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `residuum-imaging-${prefix}-`));
  afterAll(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
