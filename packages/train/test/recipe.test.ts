// The shared recipe through f-AnoGAN (two stages, no backbone needed): Ctrl-C in each stage, images/s,
// one history format, and the registry the CLI calls.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RawImage } from '@residuum/scoring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fanoganPreprocessing } from '../src/families/fanogan/index.js';
import { createRandom } from '../src/random.js';
import { FAMILY_FEATURES, trainModel } from '../src/recipe/families.js';
import { readRunFolder, RUN_FILES } from '../src/run-folder/index.js';
import { createMemorySource } from '../src/training/data.js';
import { useCpuBackend } from './helpers.js';

const SIZE = 16;

function disc(seed: number): RawImage {
  const random = createRandom(seed);
  const cx = 8 + random.uniform(-1.5, 1.5);
  const data = new Uint8Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) data[y * SIZE + x] = (x - cx) ** 2 + (y - 8) ** 2 < 25 ? 200 : 40;
  return { data, width: SIZE, height: SIZE, channels: 1 };
}

describe('the training recipe (f-AnoGAN, 16x16, cpu)', () => {
  let tmp: string;
  const images = Array.from({ length: 20 }, (_, i) => disc(300 + i));
  const options = (out: string, signal?: AbortSignal, log?: (line: string) => void) => ({
    model: 'fanogan' as const,
    out,
    dataSource: createMemorySource({ images, preprocessing: fanoganPreprocessing(SIZE, 1), validationFraction: 0.2, seed: 3 }),
    size: SIZE,
    channels: 1 as const,
    zDim: 8,
    baseFilters: 4,
    ganEpochs: 2,
    encoderEpochs: 3,
    batch: 8,
    nCritic: 1,
    seed: 5,
    backend: 'cpu' as const,
    handleSigint: false,
    ...(signal ? { signal } : {}),
    ...(log ? { log } : { quiet: true }),
  });
  beforeAll(async () => {
    await useCpuBackend();
    tmp = await mkdtemp(join(tmpdir(), 'residuum-recipe-'));
  });
  afterAll(async () => rm(tmp, { recursive: true, force: true }));

  it('says which shared features each family supports', () => {
    expect(FAMILY_FEATURES.cae).toEqual({ resume: true, workers: true, patience: true, loss: true, epochs: true, learningRate: true });
    expect(FAMILY_FEATURES.dfr.resume).toBe(false);
    expect(FAMILY_FEATURES.fanogan.workers).toBe(false);
    // PatchCore trains nothing by gradient: no epochs, no learning rate.
    expect(FAMILY_FEATURES.patchcore).toEqual({ resume: false, workers: false, patience: false, loss: false, epochs: false, learningRate: false });
  });

  it('Ctrl-C in the GAN stage: nothing usable yet, no card, history "interrupted"', async () => {
    const out = join(tmp, 'gan-stage');
    const controller = new AbortController();
    const result = await trainModel(options(out, controller.signal, (line) => /^gan epoch 1\//.test(line) && controller.abort()));
    expect(result).toMatchObject({ completed: false, interrupted: true, reason: 'stop requested' });
    expect(result.card).toBeUndefined();
    const history = JSON.parse(await readFile(join(out, RUN_FILES.history), 'utf8')) as { status: string; reason: string; epochs: Array<{ stage: string }> };
    expect(history.status).toBe('interrupted');
    expect(history.reason).toMatch(/no usable model yet/);
    expect(history.epochs.map((e) => e.stage)).toEqual(['gan']);
    await expect(readRunFolder(out)).rejects.toThrow(/has no model\.json \(the training was interrupted before its first epoch ended/);
  }, 60_000);

  it('Ctrl-C in the encoder stage: a best-so-far model with a card marked interrupted, which the run folder reader accepts', async () => {
    const out = join(tmp, 'encoder-stage');
    const controller = new AbortController();
    const result = await trainModel(options(out, controller.signal, (line) => /^encoder epoch 1\//.test(line) && controller.abort()));
    expect(result).toMatchObject({ completed: false, interrupted: true, bestEpoch: 1 });
    expect(result.timings.imagesPerSecond).toBeGreaterThan(0);
    const run = await readRunFolder(out);
    expect(run.version).toBe(2);
    expect(run.interrupted).toMatch(/^stop requested after 3 epoch\(s\); this is the best model so far \(epoch 1\)/);
    expect(run.card.training.epochs).toBe(3);
    expect(run.history?.status).toBe('interrupted');
    expect(run.history?.epochs.map((e) => `${e.stage} ${e.epoch}`)).toEqual(['gan 1', 'gan 2', 'encoder 1']);
    expect(run.history?.epochs.every((e) => (e.images ?? 0) > 0)).toBe(true);
  }, 60_000);
});
