import * as tf from '@tensorflow/tfjs';
import { quantileThreshold, validateModelCard, type RawImage } from '@residuum/scoring';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveModelSpec } from '../src/families/autoencoder/spec.js';
import { createTrainable } from '../src/families/autoencoder/trainable.js';
import { scoreImages } from '../src/training/calibration.js';
import { readCheckpoint } from '../src/training/checkpoint.js';
import { createMemorySource } from '../src/training/data.js';
import { loadModelFromDir } from '../src/training/model-io.js';
import { train, trainingPreprocessing, type TrainOptions } from '../src/families/autoencoder/train.js';
import { useCpuBackend, withTempDir } from './helpers.js';

beforeAll(useCpuBackend);

/** Smooth seeded "parts": a bright disc of varying radius and position on a gradient, 8-bit grey. */
function syntheticImages(count: number, size: number, seed: number): RawImage[] {
  let state = seed >>> 0;
  const rand = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  return Array.from({ length: count }, () => {
    const data = new Uint8Array(size * size);
    const cx = size * (0.35 + 0.3 * rand());
    const cy = size * (0.35 + 0.3 * rand());
    const r = size * (0.15 + 0.1 * rand());
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const inside = Math.hypot(x - cx, y - cy) < r;
        data[y * size + x] = inside ? 200 : Math.round(40 + (60 * x) / size);
      }
    }
    return { data, width: size, height: size, channels: 1 as const };
  });
}

const SIZE = 16;

function options(out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  const model = extra.model ?? 'cae';
  const source = createMemorySource({
    images: syntheticImages(24, 20, 5),
    preprocessing: trainingPreprocessing(SIZE, 1),
    validationFraction: 0.25,
    seed: 3,
  });
  return {
    model,
    out,
    size: SIZE,
    channels: 1,
    epochs: 3,
    batch: 6,
    seed: 7,
    backend: 'cpu',
    quiet: true,
    learningRate: 1e-2,
    patience: 10,
    dataSource: source,
    modelOptions: model === 'aesc' ? { widths: [4, 8] } : model === 'vae' ? { widths: [4, 8], latentDim: 4 } : { widths: [8, 8] },
    ...extra,
  };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function weightsOf(dir: string): Promise<number[]> {
  return Array.from(new Float32Array((await readFile(join(dir, 'weights.bin'))).buffer.slice(0)));
}

function maxDifference(a: number[], b: number[]): number {
  expect(b.length).toBe(a.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** The saved model's weights by name (model.json's manifest over weights.bin). */
async function namedWeightsOf(dir: string): Promise<Map<string, number[]>> {
  const values = await weightsOf(dir);
  const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as { weightsManifest: Array<{ weights: Array<{ name: string; shape: number[] }> }> };
  const named = new Map<string, number[]>();
  let offset = 0;
  for (const { name, shape } of manifest.weightsManifest.flatMap((group) => group.weights)) {
    const size = shape.reduce((a, b) => a * b, 1);
    named.set(name, values.slice(offset, offset + size));
    offset += size;
  }
  expect(offset).toBe(values.length);
  return named;
}

/** Adam's iteration count in a run's checkpoint (3 steps per epoch with the options below). */
async function checkpointIterations(dir: string): Promise<number | undefined> {
  return (await readCheckpoint(join(dir, 'checkpoint'))).optimizerState?.iterations;
}

describe('train', () => {
  it('trains the CAE (loss falls), writes the run folder and a valid, consistent model card', async () => {
    await withTempDir(async (dir) => {
      const result = await train(options(dir, { epochs: 4, command: 'residuum train --model cae' }));
      expect(result.completed).toBe(true);
      expect(result.epochsRun).toBe(4);
      expect(result.backend).toBe('cpu');
      const losses = result.history.map((h) => h.loss);
      expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
      for (const file of ['model.json', 'weights.bin', 'model-card.json', 'history.json', 'checkpoint/state.json', 'checkpoint/model.json']) {
        expect(await exists(join(dir, file)), file).toBe(true);
      }
      const card = validateModelCard(JSON.parse(await readFile(join(dir, 'model-card.json'), 'utf8')));
      expect(card.family).toBe('cae');
      expect(card.input.shape).toEqual(['N', 1, SIZE, SIZE]);
      expect(card.training.command).toBe('residuum train --model cae');
      expect(card.training.epochs).toBe(4);
      expect(card.training.dataFingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(card.calibration.count).toBe(6);
      expect(card.threshold.method).toBe('quantile');
      // The card's threshold is what the saved model's validation scores give.
      const model = await loadModelFromDir(dir);
      const source = options(dir).dataSource!;
      const scores = await scoreImages(model, source.validationBatches(4), { height: SIZE, width: SIZE, channels: 1 }, card);
      expect(card.threshold.value).toBeCloseTo(quantileThreshold(scores, 0.99).value, 6);
      expect(card.calibration.max).toBeCloseTo(Math.max(...scores), 6);
      // The pixel threshold: about 5 % of the validation maps' pixels lie at or above it.
      const maps: number[] = [];
      await scoreImages(model, source.validationBatches(4), { height: SIZE, width: SIZE, channels: 1 }, card, (map) => maps.push(...map));
      const share = maps.filter((v) => v >= (card.calibration.pixelThreshold ?? Infinity)).length / maps.length;
      expect(share).toBeGreaterThan(0.03);
      expect(share).toBeLessThanOrEqual(0.05);
      const history = JSON.parse(await readFile(join(dir, 'history.json'), 'utf8')) as { status: string; epochs: unknown[] };
      expect(history.status).toBe('completed');
      expect(history.epochs).toHaveLength(4);
    });
  });

  it('resume continues from the checkpoint: 2 + 1 epochs equal 3 epochs straight', async () => {
    await withTempDir(async (dir) => {
      const straight = join(dir, 'straight');
      const resumed = join(dir, 'resumed');
      await train(options(straight, { epochs: 3 }));
      const first = await train(options(resumed, { epochs: 2 }));
      expect(first.epochsRun).toBe(2);
      const second = await train(options(resumed, { epochs: 3, resume: true }));
      expect(second.epochsRun).toBe(3);
      expect(second.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
      const a = await weightsOf(straight);
      const b = await weightsOf(resumed);
      expect(b.length).toBe(a.length);
      let maxDiff = 0;
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      expect(maxDiff).toBeLessThan(1e-6);
    });
  });

  it('Ctrl-C stops after the current step, keeps the last checkpoint and a best-so-far model with a card marked interrupted, and --resume finishes the run', async () => {
    await withTempDir(async (dir) => {
      const interrupted = await train(options(dir, { epochs: 3, onEpoch: () => process.emit('SIGINT') }));
      expect(interrupted.interrupted).toBe(true);
      expect(interrupted.completed).toBe(false);
      expect(interrupted.epochsRun).toBe(1);
      const stoppedCard = validateModelCard(JSON.parse(await readFile(join(dir, 'model-card.json'), 'utf8')));
      expect(stoppedCard.training.interrupted).toMatch(/^interrupted \(Ctrl-C\) after 1 epoch\(s\); this is the best model so far \(epoch 1\)/);
      expect(stoppedCard.training.epochs).toBe(1);
      expect(await exists(join(dir, 'model.json'))).toBe(true);
      const state = JSON.parse(await readFile(join(dir, 'checkpoint', 'state.json'), 'utf8')) as { epochsCompleted: number };
      expect(state.epochsCompleted).toBe(1);
      const history = JSON.parse(await readFile(join(dir, 'history.json'), 'utf8')) as { status: string };
      expect(history.status).toBe('interrupted');
      expect(process.listenerCount('SIGINT')).toBe(0);
      const done = await train(options(dir, { epochs: 2, resume: true }));
      expect(done.completed).toBe(true);
      expect(done.epochsRun).toBe(2);
      const card = validateModelCard(JSON.parse(await readFile(join(dir, 'model-card.json'), 'utf8')));
      expect(card.training.interrupted).toBeUndefined();
      expect(card.training.epochs).toBe(2);
      // Resumed with nothing left to train: images/s comes from the recorded epochs, not 0.
      const nothingLeft = await train(options(dir, { epochs: 2, resume: true }));
      expect(nothingLeft.epochsRun).toBe(2);
      expect(nothingLeft.timings.imagesPerSecond).toBeGreaterThan(0);
    });
  });

  it('an abort signal mid-epoch stops without writing a partial checkpoint', async () => {
    await withTempDir(async (dir) => {
      const controller = new AbortController();
      controller.abort();
      const result = await train(options(dir, { signal: controller.signal }));
      expect(result.interrupted).toBe(true);
      expect(result.epochsRun).toBe(0);
      expect(await exists(join(dir, 'checkpoint'))).toBe(false);
    });
  });

  it('stops early and lowers the learning rate on a plateau', async () => {
    await withTempDir(async (dir) => {
      const result = await train(options(dir, { epochs: 10, learningRate: 1e-9, patience: 2, lrPatience: 1 }));
      expect(result.stoppedEarly).toBe(true);
      expect(result.epochsRun).toBe(3);
      expect(result.bestEpoch).toBe(1);
      expect(result.history.map((h) => h.learningRate)).toEqual([1e-9, 1e-9, 5e-10]);
      expect(result.completed).toBe(true);
    });
  });

  it('AESc trains on stained inputs and its card lists the MC-Dropout masks; VAE card lists its latent outputs', async () => {
    await withTempDir(async (dir) => {
      await train(options(join(dir, 'aesc'), { model: 'aesc', epochs: 1, threshold: { method: 'mean-std', k: 2 } }));
      const aesc = validateModelCard(JSON.parse(await readFile(join(dir, 'aesc', 'model-card.json'), 'utf8')));
      expect(aesc.mcDropout?.maskInputs.map((m) => m.shape)).toEqual([
        ['N', 4, 8, 8],
        ['N', 8, 4, 4],
      ]);
      expect(aesc.threshold.method).toBe('mean-std');
      await train(options(join(dir, 'vae'), { model: 'vae', epochs: 1, loss: 'ssim' }));
      const vae = validateModelCard(JSON.parse(await readFile(join(dir, 'vae', 'model-card.json'), 'utf8')));
      expect(vae.outputs.map((o) => o.name)).toEqual(['reconstruction', 'latent_mean', 'latent_log_variance']);
      expect(vae.score.map.kind).toBe('ssim');
      expect(vae.training.loss).toBe('ssim + 1 * KL');
      const loaded = await loadModelFromDir(join(dir, 'vae'));
      expect(loaded.outputs).toHaveLength(3);
      tf.dispose(loaded.weights.map((w) => w.read()));
    });
  });

  it('trains through the data-parallel worker engine with --workers 2 (same loop, same card)', async () => {
    await withTempDir(async (dir) => {
      const result = await train(options(dir, { epochs: 2, workers: 2 }));
      expect(result.workers).toBe(2);
      expect(result.completed).toBe(true);
      expect(result.history.every((h) => Number.isFinite(h.loss) && Number.isFinite(h.valLoss))).toBe(true);
      const card = validateModelCard(JSON.parse(await readFile(join(dir, 'model-card.json'), 'utf8')));
      expect(card.calibration.count).toBe(6);
      // The workers' weights reach the main thread: validation changes per epoch and the saved model is trained.
      expect(result.history[0].valLoss).not.toBe(result.history[1].valLoss);
      const loaded = (await loadModelFromDir(dir)).getWeights().map((w) => Array.from(w.dataSync()));
      const initial = createTrainable(resolveModelSpec({ family: 'cae', inputSize: SIZE, channels: 1, seed: 7, widths: [8, 8] })).model.getWeights();
      expect(loaded.length).toBe(initial.length);
      expect(loaded[0]).not.toEqual(Array.from(initial[0].dataSync()));
    });
  });

  it('--workers 2: 1 epoch, stop, --resume 1 epoch equals 2 epochs straight (Adam state restored from the workers)', async () => {
    await withTempDir(async (dir) => {
      const straight = join(dir, 'straight');
      const resumed = join(dir, 'resumed');
      await train(options(straight, { epochs: 2, workers: 2 }));
      const controller = new AbortController();
      const first = await train(options(resumed, { epochs: 2, workers: 2, signal: controller.signal, onEpoch: () => controller.abort() }));
      expect(first.interrupted).toBe(true);
      expect(first.epochsRun).toBe(1);
      expect(await checkpointIterations(resumed)).toBe(3);
      const logs: string[] = [];
      const second = await train(options(resumed, { epochs: 2, workers: 2, resume: true, quiet: false, handleSigint: false, log: (line) => logs.push(line) }));
      expect(second.completed).toBe(true);
      expect(second.workers).toBe(2);
      expect(logs.filter((line) => /Adam restarts/.test(line))).toEqual([]);
      expect(await checkpointIterations(resumed)).toBe(6);
      // Trainable weights: bit-exact. BN moving statistics: to float rounding (the main-thread test's 1e-6), since
      // resuming starts every replica from their average where the straight run averages at the end.
      const a = await namedWeightsOf(straight);
      const b = await namedWeightsOf(resumed);
      expect([...b.keys()]).toEqual([...a.keys()]);
      for (const [name, values] of a) {
        if (/moving_(mean|variance)$/.test(name)) expect(maxDifference(values, b.get(name)!), name).toBeLessThan(1e-6);
        else expect(b.get(name), name).toEqual(values);
      }
    });
  }, 180_000);

  it('a checkpoint of the main-thread engine resumes on 2 workers and one of 2 workers on the main thread, with Adam state', async () => {
    await withTempDir(async (dir) => {
      const mainFirst = join(dir, 'main-then-workers');
      const workersFirst = join(dir, 'workers-then-main');
      await train(options(mainFirst, { epochs: 1 }));
      await train(options(workersFirst, { epochs: 1, workers: 2 }));
      // Both engines write the same form: the iteration count and moments named after the model weights.
      const a = await readCheckpoint(join(mainFirst, 'checkpoint'));
      const b = await readCheckpoint(join(workersFirst, 'checkpoint'));
      expect(a.optimizerState?.slots.map((s) => s.name)).toEqual(b.optimizerState?.slots.map((s) => s.name));
      expect(a.optimizerState?.slots[0].name).toBe('enc1_conv/kernel/m');
      const resumedOnWorkers = await train(options(mainFirst, { epochs: 2, workers: 2, resume: true }));
      const resumedOnMain = await train(options(workersFirst, { epochs: 2, resume: true }));
      expect([resumedOnWorkers.workers, resumedOnMain.workers]).toEqual([2, 0]);
      expect([resumedOnWorkers.completed, resumedOnMain.completed]).toEqual([true, true]);
      // 6, not 3: the second epoch continued Adam's iteration count (and moments) instead of restarting it.
      expect(await checkpointIterations(mainFirst)).toBe(6);
      expect(await checkpointIterations(workersFirst)).toBe(6);
    });
  }, 180_000);

  it('a damaged optimizer file in the checkpoint stops --resume with a clear error, for both engines', async () => {
    await withTempDir(async (dir) => {
      await train(options(dir, { epochs: 1 }));
      const bin = join(dir, 'checkpoint', 'optimizer.bin');
      const manifest = join(dir, 'checkpoint', 'optimizer.json');
      const bytes = await readFile(bin);
      const json = await readFile(manifest, 'utf8');
      await writeFile(bin, bytes.subarray(0, bytes.length - 8));
      await expect(train(options(dir, { epochs: 2, resume: true }))).rejects.toThrow(/optimizer\.bin is truncated: \d+ bytes, its manifest optimizer\.json needs \d+/);
      await writeFile(bin, bytes);
      await writeFile(manifest, json.slice(0, 20));
      await expect(train(options(dir, { epochs: 2, resume: true }))).rejects.toThrow(/optimizer\.\{json,bin\} in .* cannot be read/);
      const entries = JSON.parse(json) as Array<{ name: string }>;
      entries[1].name = 'no_such_layer/kernel/m';
      await writeFile(manifest, JSON.stringify(entries));
      await expect(train(options(dir, { epochs: 2, resume: true, workers: 2 }))).rejects.toThrow(
        /the optimizer state in .* does not fit this model .*no first moment \(enc1_conv\/kernel\/m\)/,
      );
      await expect(train(options(dir, { epochs: 2, resume: true }))).rejects.toThrow(/does not fit this model .*no first moment/);
      await writeFile(manifest, json);
      // A truncated weights file or model.json names itself (not a raw TF.js error).
      const weights = join(dir, 'checkpoint', 'weights.bin');
      const weightBytes = await readFile(weights);
      await writeFile(weights, weightBytes.subarray(0, 100));
      await expect(train(options(dir, { epochs: 2, resume: true }))).rejects.toThrow(
        new RegExp(`checkpoint file ${weights.replace(/[.]/g, '\\.')} is truncated: 100 bytes, its manifest model\\.json needs \\d+`),
      );
      await writeFile(weights, weightBytes);
      const modelJson = join(dir, 'checkpoint', 'model.json');
      const modelText = await readFile(modelJson, 'utf8');
      await writeFile(modelJson, modelText.slice(0, 50));
      await expect(train(options(dir, { epochs: 2, resume: true }))).rejects.toThrow(/checkpoint file .*checkpoint\/model\.json cannot be read \(truncated or damaged\)/);
      await writeFile(modelJson, modelText);
      // Repaired, the same checkpoint resumes.
      expect((await train(options(dir, { epochs: 2, resume: true }))).epochsRun).toBe(2);
    });
  }, 180_000);

  it('rejects bad options with messages that name the flag', async () => {
    await withTempDir(async (dir) => {
      await expect(train(options(dir, { model: 'gan' as 'cae' }))).rejects.toThrow(/--model must be one of/);
      await expect(train(options(dir, { batch: 0 }))).rejects.toThrow(/--batch must be a positive integer/);
      await expect(train(options(dir, { resume: true }))).rejects.toThrow(/no checkpoint/);
      await expect(train({ model: 'cae', out: dir })).rejects.toThrow(/--data/);
      await train(options(dir, { epochs: 1 }));
      await expect(train(options(dir, { epochs: 1 }))).rejects.toThrow(/already holds a checkpoint: pass --resume/);
      await expect(train(options(dir, { epochs: 2, resume: true, seed: 8 }))).rejects.toThrow(/different model spec/);
    });
  });
});

describe('train on a dataset folder (through @residuum/imaging)', () => {
  const casting = fileURLToPath(new URL('../../../../shared/datasets/casting/train/ok_front', import.meta.url));

  it('reads a folder-layout copy of 10 real casting images, trains an epoch and fingerprints the files', async () => {
    if (!(await exists(casting))) throw new Error(`this test needs the shared casting dataset at ${casting} (../shared from the repo root)`);
    const { copyFile, mkdir, readdir } = await import('node:fs/promises');
    await withTempDir(async (dir) => {
      const root = join(dir, 'data');
      await mkdir(join(root, 'good'), { recursive: true });
      const files = (await readdir(casting)).filter((f) => f.endsWith('.jpeg')).sort().slice(0, 10);
      for (const file of files) await copyFile(join(casting, file), join(root, 'good', file));
      const base = options(join(dir, 'run'), { epochs: 1, batch: 4 });
      delete base.dataSource;
      const result = await train({ ...base, data: root, layout: 'folder', normalDir: ['good'], validationSplit: 0.2 });
      expect(result.completed).toBe(true);
      const card = validateModelCard(JSON.parse(await readFile(join(dir, 'run', 'model-card.json'), 'utf8')));
      expect(card.training.imageCount).toBe(10);
      expect(card.calibration.count).toBe(2);
      expect(card.training.dataDescription).toContain('good');
      expect(card.training.dataFingerprint).toMatch(/^[0-9a-f]{64}$/);
      await expect(train({ ...base, out: join(dir, 'run2'), data: root, layout: 'folder' })).rejects.toThrow(/--normal-dir/);
    });
  });
});
