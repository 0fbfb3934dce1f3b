import { afterAll, describe, expect, it } from 'vitest';
import type { BenchCaeSpec } from '../../bench/cae-factory.js';
import {
  createDataParallelEngine,
  createLocalEngine,
  createTrainingEngine,
  recommendedWorkerCount,
  type NamedWeight,
  type OptimizerState,
  type TrainingEngine,
} from '../../src/engine/index.js';

const moduleUrl = new URL('../../bench/cae-factory.ts', import.meta.url).href;
const size = 16;

function factory(batchNorm: boolean): { moduleUrl: string; exportName: string; spec: BenchCaeSpec } {
  return { moduleUrl, exportName: 'createBenchCae', spec: { size, channels: 1, widths: [4, 8], seed: 3, batchNorm } };
}

/** Seeded smooth-ish images in [0, 1] so the autoencoder has something to learn. */
function batch(n: number, seed: number): Float32Array {
  const data = new Float32Array(n * size * size);
  let state = seed;
  for (let i = 0; i < n; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const phase = state / 2147483648;
    for (let p = 0; p < size * size; p++) {
      const y = Math.floor(p / size);
      const x = p % size;
      data[i * size * size + p] = 0.5 + 0.4 * Math.sin((x + 2 * y) / 3 + phase * 6);
    }
  }
  return data;
}

function maxDifference(a: NamedWeight[], b: NamedWeight[]): number {
  expect(a.map((w) => w.shape)).toEqual(b.map((w) => w.shape));
  let worst = 0;
  a.forEach((w, i) => {
    for (let j = 0; j < w.data.length; j++) worst = Math.max(worst, Math.abs(w.data[j] - b[i].data[j]));
  });
  return worst;
}

const engines: TrainingEngine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.dispose()));
});

describe('data-parallel engine (worker_threads, wasm)', () => {
  it("createTrainingEngine('auto') uses one worker per core up to 2, and the main thread for workers = 0", async () => {
    const auto = await createTrainingEngine({ factory: factory(false), optimizer: { learningRate: 1e-3 }, backend: 'wasm', workers: 'auto' });
    const local = await createTrainingEngine({ factory: factory(false), optimizer: { learningRate: 1e-3 }, backend: 'wasm', workers: 0 });
    engines.push(auto, local);
    expect(auto.workers).toBe(recommendedWorkerCount());
    expect(recommendedWorkerCount()).toBeLessThanOrEqual(2);
    expect(local.workers).toBe(0);
  });

  it('without batch statistics, 2 workers on uneven shards equal a main-thread step on the full batch', async () => {
    const options = { factory: factory(false), optimizer: { learningRate: 1e-2 }, backend: 'wasm' as const };
    const parallel = await createDataParallelEngine({ ...options, workers: 2 });
    const local = await createLocalEngine(options);
    engines.push(parallel, local);
    const initialDifference = maxDifference(await parallel.getWeights(), await local.getWeights());
    expect(initialDifference).toBe(0);
    const losses: number[] = [];
    for (let step = 0; step < 3; step++) {
      const images = batch(5, step + 1); // shards of 3 and 2 images: the average must be weighted
      const a = await parallel.trainBatch(images, images, [5, size, size, 1]);
      const b = await local.trainBatch(images, images, [5, size, size, 1]);
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5);
      losses.push(a.loss);
    }
    const after = await parallel.getWeights();
    expect(maxDifference(after, await local.getWeights())).toBeLessThan(1e-4);
    // The steps really moved the weights (the comparison above is not between two untouched models).
    const moved = maxDifference(after, await (await createLocalEngine(options).then((e) => (engines.push(e), e))).getWeights());
    expect(moved).toBeGreaterThan(1e-3);
    const replicas = await parallel.replicaWeights();
    expect(maxDifference(replicas[0], replicas[1])).toBe(0);
  });

  it('with batch norm, replicas stay identical, the loss falls and moving statistics are averaged', async () => {
    const parallel = await createDataParallelEngine({ factory: factory(true), optimizer: { learningRate: 1e-2 }, backend: 'wasm', workers: 2 });
    engines.push(parallel);
    const initial = await parallel.getWeights();
    const losses: number[] = [];
    const images = batch(6, 42);
    for (let step = 0; step < 8; step++) losses.push((await parallel.trainBatch(images, images, [6, size, size, 1])).loss);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    const replicas = await parallel.replicaWeights();
    const names = replicas[0].map((w) => w.name);
    const trainableDifference = maxDifference(
      replicas[0].filter((w) => !/moving/.test(w.name)),
      replicas[1].filter((w) => !/moving/.test(w.name)),
    );
    expect(trainableDifference).toBe(0);
    const movingIndex = names.findIndex((n) => /moving_mean/.test(n));
    expect(movingIndex).toBeGreaterThanOrEqual(0);
    const merged = (await parallel.getWeights())[movingIndex].data;
    const expected = replicas[0][movingIndex].data.map((v, j) => (v + replicas[1][movingIndex].data[j]) / 2);
    merged.forEach((v, j) => expect(v).toBeCloseTo(expected[j], 6));
    expect(maxDifference([initial[movingIndex]], [{ ...initial[movingIndex], data: merged }])).toBeGreaterThan(0);
  });

  it('setLearningRate reaches every worker (lr 0 leaves the weights unchanged)', async () => {
    const parallel = await createDataParallelEngine({ factory: factory(false), optimizer: { learningRate: 1e-2 }, backend: 'wasm', workers: 2 });
    engines.push(parallel);
    await parallel.setLearningRate(0);
    const before = await parallel.getWeights();
    const images = batch(4, 9);
    await parallel.trainBatch(images, images, [4, size, size, 1]);
    expect(maxDifference(before, await parallel.getWeights())).toBe(0);
    await expect(parallel.setLearningRate(-1)).rejects.toThrow(/learningRate must be a finite number >= 0, got -1/);
  });

  it('setWeights replaces the weights of every replica (matched by name) and checks shapes', async () => {
    const options = { factory: factory(true), optimizer: { learningRate: 1e-2 }, backend: 'wasm' as const };
    const parallel = await createDataParallelEngine({ ...options, workers: 2 });
    const local = await createLocalEngine(options);
    engines.push(parallel, local);
    const images = batch(4, 5);
    for (let step = 0; step < 2; step++) await local.trainBatch(images, images, [4, size, size, 1]);
    const trained = await local.getWeights();
    await parallel.setWeights([...trained].reverse());
    for (const replica of await parallel.replicaWeights()) expect(maxDifference(replica, trained)).toBe(0);
    const wrong = trained.map((w, i) => (i === 0 ? { ...w, shape: [1, ...w.shape], data: w.data } : w));
    await expect(parallel.setWeights(wrong)).rejects.toThrow(/setWeights: .* has shape \[1, /);
  });

  it("Adam's state moves between engines by weight name: a fresh engine that imports it continues the same run", async () => {
    const options = { factory: factory(false), optimizer: { learningRate: 1e-2 }, backend: 'wasm' as const };
    const source = await createDataParallelEngine({ ...options, workers: 2 });
    engines.push(source);
    for (let step = 0; step < 3; step++) {
      const images = batch(5, step + 1);
      await source.trainBatch(images, images, [5, size, size, 1]);
    }
    const state = await source.getOptimizerState();
    const weights = await source.getWeights();
    expect(state.iterations).toBe(3);
    // Model weight names, not tf.Variable names (those depend on how many models the thread built before).
    const names = weights.map((w) => w.name);
    expect(state.slots.map((s) => s.name)).toEqual([...names.map((n) => `${n}/m`), ...names.map((n) => `${n}/v`)]);

    const resumed = await createDataParallelEngine({ ...options, workers: 2 });
    const local = await createLocalEngine(options);
    const restarted = await createLocalEngine(options);
    engines.push(resumed, local, restarted);
    for (const engine of [resumed, local]) {
      await engine.setWeights(weights);
      await engine.setOptimizerState(state);
      expect(await engine.getOptimizerState()).toEqual(state);
    }
    await restarted.setWeights(weights);

    const images = batch(5, 4);
    for (const engine of [source, resumed, local, restarted]) await engine.trainBatch(images, images, [5, size, size, 1]);
    const after = await source.getWeights();
    expect(maxDifference(await resumed.getWeights(), after)).toBeLessThan(1e-6);
    // Worker state -> main thread: the same step to float rounding (as in the full-batch comparison above).
    expect(maxDifference(await local.getWeights(), after)).toBeLessThan(1e-4);
    // Without the moments, Adam's first step is about lr per weight: far from the continued run.
    expect(maxDifference(await restarted.getWeights(), after)).toBeGreaterThan(1e-3);
    // The state reached the second worker too (otherwise its update would differ from replica 0's).
    const replicas = await resumed.replicaWeights();
    expect(maxDifference(replicas[0], replicas[1])).toBe(0);

    // Main thread -> workers: the main-thread engine exports the same form, with the same values to rounding.
    const fromLocal = await local.getOptimizerState();
    const fromWorkers = await source.getOptimizerState();
    expect(fromLocal.iterations).toBe(4);
    expect(fromWorkers.iterations).toBe(4);
    expect(maxDifference(fromLocal.slots, fromWorkers.slots)).toBeLessThan(1e-5);
  }, 120_000);

  it('setOptimizerState rejects a state that does not fit the model, in both engines, and keeps the old one', async () => {
    const options = { factory: factory(false), optimizer: { learningRate: 1e-2 }, backend: 'wasm' as const };
    const local = await createLocalEngine(options);
    const parallel = await createDataParallelEngine({ ...options, workers: 1 });
    engines.push(local, parallel);
    const images = batch(3, 11);
    await local.trainBatch(images, images, [3, size, size, 1]);
    const good = await local.getOptimizerState();
    await parallel.setOptimizerState(good);
    const edit = (change: (slots: NamedWeight[]) => NamedWeight[], iterations = good.iterations): OptimizerState => ({
      iterations,
      slots: change(good.slots.map((s) => ({ ...s, data: new Float32Array(s.data) }))),
    });
    const bad: Array<[OptimizerState, RegExp]> = [
      [edit((slots) => slots.slice(1)), /no first moment \(enc1_conv\/kernel\/m\) for weight enc1_conv\/kernel/],
      [edit((slots) => slots.map((s, i) => (i === 0 ? { ...s, shape: [s.data.length] } : s))), /enc1_conv\/kernel\/m has shape \[\d+\]/],
      [edit((slots) => slots.map((s, i) => (i === 1 ? { ...s, data: s.data.map((v, j) => (j === 2 ? Number.NaN : v)) } : s))), /non-finite value \(NaN\) at index 2/],
      [edit((slots) => [...slots, { ...slots[0], name: 'other_model/kernel/m' }]), /weights this model does not have: other_model\/kernel\/m/],
      [edit((slots) => slots, -1), /iterations must be an integer >= 0, got -1/],
      [edit(() => [], 5), /5 iterations but no moments/],
    ];
    for (const engine of [local, parallel]) {
      for (const [state, message] of bad) await expect(engine.setOptimizerState(state)).rejects.toThrow(message);
      expect(await engine.getOptimizerState()).toEqual(good);
    }
  });

  it('reports bad input and a bad factory clearly', async () => {
    const parallel = await createDataParallelEngine({ factory: factory(false), optimizer: { learningRate: 1e-3 }, backend: 'wasm', workers: 1 });
    engines.push(parallel);
    await expect(parallel.trainBatch(new Float32Array(10), new Float32Array(10), [1, size, size, 1])).rejects.toThrow(
      /inputs must be a Float32Array of 256 values/,
    );
    await expect(
      createDataParallelEngine({ factory: { ...factory(false), exportName: 'nope' }, optimizer: { learningRate: 1e-3 }, backend: 'wasm', workers: 1 }),
    ).rejects.toThrow(/has no exported function 'nope'/);
    await expect(createDataParallelEngine({ factory: factory(false), optimizer: { learningRate: 1e-3 }, backend: 'wasm', workers: 0 })).rejects.toThrow(
      /workers must be a positive integer/,
    );
    await expect(createTrainingEngine({ factory: factory(false), optimizer: { learningRate: 1e-3 }, backend: 'wasm', workers: -1 })).rejects.toThrow(
      /workers must be 'auto' or an integer >= 0, got -1/,
    );
    await expect(createLocalEngine({ factory: factory(false), optimizer: { learningRate: 0 }, backend: 'wasm' })).rejects.toThrow(
      /optimizer.learningRate must be a positive number, got 0/,
    );
  });
});
