import { createSeededRandom, makeDropoutMasks, scoreImage, type ModelCard } from '@residuum/scoring';
import { describe, expect, it } from 'vitest';
import {
  createInspectorCore,
  summarize,
  type InspectionSuccess,
  type ModelFeeds,
  type ModelInputImage,
  type PreparedImage,
  type RunModel,
} from '../src/index.js';
import { testRandom, tinyAeCard } from './helpers.js';

const SIZE = 16 * 16;

function randomImage(seed: number): ModelInputImage {
  const random = testRandom(seed);
  return { data: Float32Array.from({ length: SIZE }, () => random()), channels: 1, height: 16, width: 16 };
}

/** A stand-in model: reconstruction = 0.5 + 0.5 * (input - 0.5), times the mean of any mask of the row. */
function fakeRun(calls: number[] = []): RunModel {
  return async (feeds: ModelFeeds) => {
    const input = feeds.input;
    const batch = input.dims[0];
    calls.push(batch);
    const out = new Float32Array(input.data.length);
    const mask = feeds.mc_mask_0;
    for (let row = 0; row < batch; row++) {
      let scale = 1;
      if (mask) {
        const rowSize = mask.data.length / batch;
        let sum = 0;
        for (let i = 0; i < rowSize; i++) sum += mask.data[row * rowSize + i];
        scale = sum / rowSize;
      }
      for (let i = 0; i < SIZE; i++) out[row * SIZE + i] = (0.5 + 0.5 * (input.data[row * SIZE + i] - 0.5)) * scale;
    }
    return { reconstruction: { data: out, dims: [batch, 1, 16, 16] } };
  };
}

function prepared(seed: number): PreparedImage {
  return { source: `image-${seed}.png`, input: randomImage(seed), preprocessMs: 1 };
}

function mcCard(samples = 5): ModelCard {
  return { ...tinyAeCard(), mcDropout: { samples, maskInputs: [{ name: 'mc_mask_0', shape: ['N', 4, 16, 16], rate: 0.5 }] } };
}

describe('scoreImage', () => {
  it('computes the squared-error mean map score by hand and the verdict against the threshold', () => {
    const card = tinyAeCard();
    const input = randomImage(1);
    const reconstruction = input.data.map((v) => v * 0.9);
    const expected = input.data.reduce((sum, v, i) => sum + (v - reconstruction[i]) ** 2, 0) / SIZE;
    const scored = scoreImage(card, input, [{ reconstruction: { data: reconstruction, dims: [1, 16, 16] } }], { returnMaps: true });
    expect(scored.score).toBeCloseTo(expected, 6);
    expect(scored.threshold).toBe(card.threshold.value);
    expect(scored.isAnomalous).toBe(expected >= card.threshold.value);
    expect(scored.map?.data.length).toBe(SIZE);
    const flipped = scoreImage(card, input, [{ reconstruction: { data: reconstruction, dims: [1, 16, 16] } }], { threshold: expected / 2 });
    expect(flipped.isAnomalous).toBe(true);
    expect(scoreImage(card, input, [{ reconstruction: { data: reconstruction, dims: [1, 16, 16] } }], { threshold: expected * 2 }).isAnomalous).toBe(false);
  });

  it('maps a score equal to the threshold to normalized 0.5', () => {
    const card = tinyAeCard();
    const input = randomImage(2);
    const reconstruction = input.data.map((v) => v + 0.1);
    const score = scoreImage(card, input, [{ reconstruction: { data: reconstruction, dims: [1, 16, 16] } }]).score;
    const atThreshold = scoreImage(card, input, [{ reconstruction: { data: reconstruction, dims: [1, 16, 16] } }], { threshold: score });
    expect(atThreshold.normalizedScore).toBeCloseTo(0.5, 6);
    expect(atThreshold.isAnomalous).toBe(true);
  });

  it("upsamples a model's own feature-error map ('model-output') and adds kappa * discriminator residual", () => {
    const base = tinyAeCard();
    const card: ModelCard = {
      ...base,
      family: 'dfr',
      outputs: [
        { name: 'errors', meaning: 'feature-error-map', shape: ['N', 1, 4, 4] },
        { name: 'residual', meaning: 'discriminator-feature-residual', shape: ['N', 1] },
      ],
      score: { map: { kind: 'model-output', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean', kappa: 2 } },
    };
    const errors = new Float32Array(16).fill(0.25);
    const scored = scoreImage(card, randomImage(3), [{ errors: { data: errors, dims: [1, 4, 4] }, residual: { data: Float32Array.of(0.1), dims: [1] } }], { returnMaps: true });
    expect(scored.map?.width).toBe(16);
    expect(scored.map?.data.every((v) => Math.abs(v - 0.25) < 1e-6)).toBe(true);
    expect(scored.score).toBeCloseTo(0.25 + 2 * 0.1, 6);
  });

  it("takes the map from the graph's 'anomaly-map' output (scoring head) for one pass, and computes it in JS otherwise", () => {
    const base = tinyAeCard();
    const card: ModelCard = { ...base, outputs: [...base.outputs, { name: 'anomaly_map', meaning: 'anomaly-map', shape: ['N', 1, 16, 16] }] };
    const input = randomImage(6);
    const reconstruction = input.data.map((v) => v * 0.5);
    // A graph map unlike the squared residual, so the test tells which one was used.
    const graphMap = Float32Array.from({ length: SIZE }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const pass = { reconstruction: { data: reconstruction, dims: [1, 16, 16] }, anomaly_map: { data: graphMap, dims: [1, 16, 16] } };
    const headed = scoreImage(card, input, [pass], { returnMaps: true });
    expect(headed.score).toBeCloseTo(0.5, 9);
    expect(headed.map?.data).toEqual(graphMap);
    const computed = scoreImage(base, input, [pass]).score;
    expect(computed).toBeCloseTo(input.data.reduce((sum, v, i) => sum + (v - reconstruction[i]) ** 2, 0) / SIZE, 6);
    // Two MC passes: the map of the mean reconstruction, which only JS has.
    const twoPasses = scoreImage(card, input, [pass, pass]).score;
    expect(twoPasses).toBeCloseTo(computed, 6);
    const wrongSize = { ...pass, anomaly_map: { data: new Float32Array(8), dims: [1, 2, 4] } };
    expect(() => scoreImage(card, input, [wrongSize])).toThrow(/anomaly_map' has 8 values per image, a 16x16 map needs 256/);
  });

  it('rejects a non-finite threshold override', () => {
    expect(() => scoreImage(tinyAeCard(), randomImage(1), [{ reconstruction: { data: new Float32Array(SIZE), dims: [1, 16, 16] } }], { threshold: Number.NaN })).toThrow(/threshold must be a finite number/);
  });
});

describe('makeDropoutMasks', () => {
  it('draws 0 or 1/(1-rate) at about the rate, reproducibly from a seed', () => {
    const masks = makeDropoutMasks(mcCard(), 3, createSeededRandom(5)).mc_mask_0;
    expect(masks.dims).toEqual([3, 4, 16, 16]);
    const values = new Set(masks.data);
    expect([...values].sort()).toEqual([0, 2]);
    const dropped = masks.data.filter((v) => v === 0).length / masks.data.length;
    expect(dropped).toBeGreaterThan(0.45);
    expect(dropped).toBeLessThan(0.55);
    expect(makeDropoutMasks(mcCard(), 3, createSeededRandom(5)).mc_mask_0.data).toEqual(masks.data);
    expect(makeDropoutMasks(mcCard(), 3, createSeededRandom(6)).mc_mask_0.data).not.toEqual(masks.data);
  });

  it('gives masks of exactly 1.0 for a deterministic pass and nothing for a card without MC-Dropout', () => {
    expect(makeDropoutMasks(mcCard(), 2, null).mc_mask_0.data.every((v) => v === 1)).toBe(true);
    expect(makeDropoutMasks(tinyAeCard(), 2, createSeededRandom(1))).toEqual({});
    expect(() => makeDropoutMasks(mcCard(), 0, null)).toThrow(/batch must be a positive integer/);
  });
});

describe('createInspectorCore', () => {
  it('scores the same whatever the batch size, keeps the order and batches at most batchSize', async () => {
    const images = Array.from({ length: 7 }, (_, i) => prepared(i + 10));
    const scoresBy = async (batchSize: number) => {
      const calls: number[] = [];
      const core = createInspectorCore({ card: tinyAeCard(), provider: 'cpu', run: fakeRun(calls), batchSize });
      const results = (await core.inspectPrepared(images)) as InspectionSuccess[];
      expect(Math.max(...calls)).toBeLessThanOrEqual(batchSize);
      expect(calls.reduce((a, b) => a + b, 0)).toBe(images.length);
      expect(results.map((r) => r.source)).toEqual(images.map((i) => i.source));
      return results.map((r) => r.score);
    };
    const one = await scoresBy(1);
    expect(await scoresBy(3)).toEqual(one);
    expect(await scoresBy(16)).toEqual(one);
    expect(new Set(one).size).toBe(images.length);
  });

  it('turns unreadable or wrongly shaped images into error entries and scores the rest', async () => {
    const core = createInspectorCore({ card: tinyAeCard(), provider: 'cpu', run: fakeRun(), batchSize: 4 });
    const wrong: PreparedImage = { source: 'small.png', input: { data: new Float32Array(64), channels: 1, height: 8, width: 8 }, preprocessMs: 0 };
    const results = await core.inspectPrepared([prepared(1), { source: 'broken.png', error: 'truncated PNG' }, wrong, prepared(2)]);
    expect(results.map((r) => r.ok)).toEqual([true, false, false, true]);
    expect(results[1]).toEqual({ ok: false, source: 'broken.png', error: 'truncated PNG' });
    expect(results[2].ok === false && results[2].error).toMatch(/1x8x8, the model needs 1x16x16/);
    const summary = summarize(results, 10);
    expect(summary).toMatchObject({ total: 4, errors: 2, providers: ['cpu'], imagesPerSecond: 200 });
    expect(summary.ok + summary.anomalous).toBe(2);
  });

  it('reports timings and the provider per image', async () => {
    const core = createInspectorCore({ card: tinyAeCard(), provider: 'webgpu', run: fakeRun(), batchSize: 2 });
    const [result] = (await core.inspectPrepared([prepared(3)], { returnMaps: true })) as InspectionSuccess[];
    expect(result.provider).toBe('webgpu');
    expect(result.timings.preprocessMs).toBe(1);
    expect(result.timings.totalMs).toBeCloseTo(result.timings.preprocessMs + result.timings.inferenceMs + result.timings.scoringMs, 9);
    expect(result.input?.data).toEqual(randomImage(3).data);
    expect(result.reconstruction?.data.length).toBe(SIZE);
  });

  it('runs N stochastic MC-Dropout passes per image, batched, and returns their variance as uncertainty', async () => {
    const calls: number[] = [];
    const core = createInspectorCore({ card: mcCard(5), provider: 'cpu', run: fakeRun(calls), batchSize: 4, seed: 9 });
    const images = [prepared(4), prepared(5)];
    const results = (await core.inspectPrepared(images, { returnMaps: true })) as InspectionSuccess[];
    expect(calls).toEqual([4, 4, 2]); // 2 images x 5 passes in rows of at most 4
    for (const result of results) {
      expect(result.uncertainty?.data.length).toBe(SIZE);
      expect(Math.max(...result.uncertainty!.data)).toBeGreaterThan(0);
    }
    // Same seed, same image: same score whatever else is in the batch.
    const alone = (await createInspectorCore({ card: mcCard(5), provider: 'cpu', run: fakeRun(), batchSize: 3, seed: 9 }).inspectPrepared([prepared(5)])) as InspectionSuccess[];
    expect(alone[0].score).toBeCloseTo(results[1].score, 6);
    // mcSamples 1 is one deterministic pass (masks of 1.0): same as a plain AE.
    const deterministic = (await core.inspectPrepared([prepared(4)], { mcSamples: 1, returnMaps: true })) as InspectionSuccess[];
    const plain = (await createInspectorCore({ card: tinyAeCard(), provider: 'cpu', run: fakeRun() }).inspectPrepared([prepared(4)])) as InspectionSuccess[];
    expect(deterministic[0].score).toBeCloseTo(plain[0].score, 9);
    expect(deterministic[0].uncertainty).toBeUndefined();
  });

  it('warms up with one full batch and rejects bad options', async () => {
    const calls: number[] = [];
    const core = createInspectorCore({ card: tinyAeCard(), provider: 'cpu', run: fakeRun(calls), batchSize: 6 });
    expect(await core.warmup()).toBeGreaterThanOrEqual(0);
    expect(calls).toEqual([6]);
    await expect(core.inspectPrepared([prepared(1)], { threshold: Number.POSITIVE_INFINITY })).rejects.toThrow(/threshold/);
    await expect(createInspectorCore({ card: mcCard(), provider: 'cpu', run: fakeRun() }).inspectPrepared([prepared(1)], { mcSamples: 0 })).rejects.toThrow(/mcSamples/);
    expect(() => createInspectorCore({ card: tinyAeCard(), provider: 'cpu', run: fakeRun(), batchSize: 0 })).toThrow(/batchSize/);
  });

  it('makes a non-finite score an error entry, not a silent verdict', async () => {
    const nanRun: RunModel = async (feeds) => ({ reconstruction: { data: new Float32Array(feeds.input.data.length).fill(Number.NaN), dims: feeds.input.dims } });
    const [result] = await createInspectorCore({ card: tinyAeCard(), provider: 'cpu', run: nanRun }).inspectPrepared([prepared(1)]);
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.error).toMatch(/finite/);
  });

  it('splits into inferPrepared and scoreInferred: a pipeline that starts batch k before scoring k - 1 gets the same results', async () => {
    const log: string[] = [];
    const inner = fakeRun();
    const run: RunModel = async (feeds) => {
      log.push(`run ${feeds.input.dims[0]}`);
      return inner(feeds);
    };
    const core = createInspectorCore({ card: mcCard(3), provider: 'cpu', run, batchSize: 4, seed: 9 });
    const batches = [[prepared(1), prepared(2)], [prepared(3), { source: 'bad.png', error: 'corrupt' }], [prepared(4)]];
    const reference = await createInspectorCore({ card: mcCard(3), provider: 'cpu', run: fakeRun(), batchSize: 4, seed: 9 }).inspectPrepared(batches.flat(), { returnMaps: true });
    const results = [];
    let previous = null;
    for (const batch of batches) {
      const inferring = core.inferPrepared(batch, { returnMaps: true });
      if (previous) {
        log.push('score');
        results.push(...core.scoreInferred(previous));
      }
      previous = await inferring;
    }
    results.push(...core.scoreInferred(previous!));
    // 2 images x 3 passes = 6 rows in runs of 4 and 2; the first run of a batch starts before the previous batch is scored.
    expect(log).toEqual(['run 4', 'run 2', 'run 3', 'score', 'run 3', 'score']);
    expect(results).toHaveLength(5);
    results.forEach((result, i) => {
      const expected = reference[i];
      if (!expected.ok || !result.ok) return expect(result).toEqual(expected);
      expect(result.score).toBe(expected.score);
      expect(result.map?.data).toEqual(expected.map?.data);
      expect(result.uncertainty?.data).toEqual(expected.uncertainty?.data);
    });
    expect(results[3]).toEqual({ ok: false, source: 'bad.png', error: 'corrupt' });
  });
});
