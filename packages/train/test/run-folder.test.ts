import { cp, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseRunHistory,
  readRunFolder,
  readRunHistory,
  RUN_FILES,
  RUN_FOLDER_VERSION,
  RunFolderError,
  writeRunHistory,
} from '../src/run-folder/index.js';

const FIXTURES = new URL('./fixtures/run-folder-v1/', import.meta.url).pathname;

describe('run folder', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'residuum-run-folder-'));
  });
  afterAll(async () => rm(tmp, { recursive: true, force: true }));

  it('reads a format-1 run folder written by main (f-AnoGAN): card, weights, history converted to one shape', async () => {
    const run = await readRunFolder(join(FIXTURES, 'fanogan'));
    expect(run.version).toBe(1);
    expect(run.card.family).toBe('fanogan');
    expect(run.interrupted).toBeUndefined();
    expect(run.model.modelJson.weightsManifest[0].paths).toEqual([`./${RUN_FILES.weights}`]);
    const bytes = run.model.modelJson.weightsManifest[0].weights.reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
    expect(run.model.weights.byteLength).toBe(bytes);
    expect(run.history?.status).toBe('completed');
    expect(run.history?.epochs.map((e) => e.stage)).toEqual(['gan', ...new Array<string>(10).fill('encoder')]);
    const gan = run.history?.epochs[0];
    expect(gan?.metrics?.diversityRatio).toBeGreaterThan(0);
    expect(Number.isFinite(gan?.loss)).toBe(true);
    expect(run.history?.details?.stability).toMatchObject({ collapseLimit: 0.25 });
  });

  it('reads the format-1 histories of CAE (epochs), DFR (history) and the CLI Ctrl-C marker', async () => {
    const cae = await readRunHistory(join(FIXTURES, 'cae'));
    expect(cae).toMatchObject({ runFolderVersion: 1, status: 'completed', bestEpoch: 1 });
    expect(cae?.epochs.map((e) => [e.stage, e.epoch, e.images])).toEqual([
      ['train', 1, 7],
      ['train', 2, 7],
    ]);
    const dfr = parseRunHistory(JSON.parse(await readFile(join(FIXTURES, 'dfr-history.json'), 'utf8')), 'dfr-history.json');
    expect(dfr).toMatchObject({ family: 'dfr', bestEpoch: 2, bestValLoss: 0.41 });
    expect(dfr.epochs.map((e) => [e.stage, e.valLoss])).toEqual([
      ['train', 0.5],
      ['train', 0.41],
    ]);
    const stopped = parseRunHistory(JSON.parse(await readFile(join(FIXTURES, 'interrupted-history.json'), 'utf8')), 'x');
    expect(stopped).toMatchObject({ status: 'interrupted', epochs: [], bestValLoss: null });
  });

  it('writes format 2 and reads it back; refuses a newer format with a message that says what to do', async () => {
    const dir = join(tmp, 'v2');
    await cp(join(FIXTURES, 'fanogan'), dir, { recursive: true });
    await writeRunHistory(dir, { family: 'cae', status: 'training', bestEpoch: 0, bestValLoss: Number.POSITIVE_INFINITY, epochs: [{ stage: 'train', epoch: 1, loss: 0.5, seconds: 1 }] });
    const written = JSON.parse(await readFile(join(dir, RUN_FILES.history), 'utf8')) as Record<string, unknown>;
    expect(written.runFolderVersion).toBe(RUN_FOLDER_VERSION);
    expect(written.bestValLoss).toBeNull();
    expect((await readRunFolder(dir)).version).toBe(RUN_FOLDER_VERSION);

    await writeFile(join(dir, RUN_FILES.history), JSON.stringify({ ...written, runFolderVersion: RUN_FOLDER_VERSION + 1 }));
    await expect(readRunFolder(dir)).rejects.toThrow(new RegExp(`format ${RUN_FOLDER_VERSION + 1} was written by a newer Residuum; this one reads formats 1 to ${RUN_FOLDER_VERSION}`));
    await expect(readRunFolder(dir)).rejects.toBeInstanceOf(RunFolderError);
  });

  it('names what is missing or damaged: no folder, no model, no card after an interruption, truncated weights, bad card', async () => {
    await expect(readRunFolder(join(tmp, 'nowhere'))).rejects.toThrow(/run folder not found/);
    const dir = join(tmp, 'broken');
    await cp(join(FIXTURES, 'fanogan'), dir, { recursive: true });

    await rm(join(dir, RUN_FILES.card));
    await writeRunHistory(dir, { family: 'cae', status: 'training', bestEpoch: 1, bestValLoss: 1, epochs: [] });
    await expect(readRunFolder(dir)).rejects.toThrow(/no model-card\.json \(the training was stopped before a model card was written; continue it with `residuum train \.\.\. --resume`\)/);

    await cp(join(FIXTURES, 'fanogan', RUN_FILES.card), join(dir, RUN_FILES.card));
    const weights = join(dir, RUN_FILES.weights);
    await truncate(weights, 100);
    await expect(readRunFolder(dir)).rejects.toThrow(/weight files hold 100 bytes, model\.json needs \d+ \(truncated/);

    await cp(join(FIXTURES, 'fanogan', RUN_FILES.weights), weights);
    const card = JSON.parse(await readFile(join(dir, RUN_FILES.card), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, RUN_FILES.card), JSON.stringify({ ...card, threshold: undefined }));
    await expect(readRunFolder(dir)).rejects.toThrow(/model-card\.json: [\s\S]*threshold/);

    await rm(join(dir, RUN_FILES.model));
    await expect(readRunFolder(dir)).rejects.toThrow(/has no model\.json/);
  });
});
