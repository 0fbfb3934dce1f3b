/**
 * The scoring head (the card's anomaly map as a graph output) against @residuum/scoring's
 * anomalyMap computed in JavaScript from the same input and the graph's own reconstruction.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { anomalyMap, type AnomalyMapSpec, type ModelCard } from '@residuum/scoring';
import { convertLayersModel } from '../src/index.js';
import { sampleCard } from './helpers/card.js';
import { expectValidOnnx } from './helpers/onnx-checker.js';
import { runOrtNode, runOrtWeb } from './helpers/runtimes.js';
import { randomArray, randomizeWeights, saveToMemory, seededRandom, tf, useCpuBackend } from './helpers/tfjs-harness.js';

beforeAll(useCpuBackend);

/** A one-layer "autoencoder": its reconstruction is a seeded mix of the input, close enough to be SSIM-interesting. */
function mixer(channels: number, height: number, width: number, seed: number): tf.LayersModel {
  const input = tf.input({ shape: [height, width, channels] });
  const output = tf.layers.conv2d({ filters: channels, kernelSize: 3, padding: 'same', activation: 'tanh' }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  randomizeWeights(model, seed);
  return model;
}

function cardWith(channels: 1 | 3, height: number, width: number, map: AnomalyMapSpec, edit: (card: ModelCard) => void = () => undefined): ModelCard {
  const card = sampleCard(channels, { width, height }, [{ name: 'reconstruction', meaning: 'reconstruction', shape: ['N', channels, height, width] }]);
  card.score.map = map;
  edit(card);
  return card;
}

async function convertAndRun(model: tf.LayersModel, card: ModelCard, batch: number, seed: number, runtime: 'node' | 'web' = 'node', range: [number, number] = [-1, 1]) {
  const artifacts = await saveToMemory(model);
  const conversion = convertLayersModel({ ...artifacts, card });
  const [, channels, height, width] = card.input.shape;
  const plane = channels * height * width;
  const input = randomArray(batch * plane, seededRandom(seed), ...range);
  const run = runtime === 'node' ? runOrtNode : runOrtWeb;
  const outputs = await run(conversion.onnx, { input: { data: input, dims: [batch, channels, height, width] } });
  return { conversion, input, outputs, plane, channels, height, width };
}

/** Largest |graph map - JS map| over the batch; JS takes the graph's reconstruction, so only the map differs. */
function maxMapDifference(run: Awaited<ReturnType<typeof convertAndRun>>, map: AnomalyMapSpec, batch: number): number {
  const { input, outputs, plane, channels, height, width } = run;
  expect(outputs.anomaly_map.dims).toEqual([batch, 1, height, width]);
  let worst = 0;
  for (let i = 0; i < batch; i++) {
    const js = anomalyMap(input.subarray(i * plane, (i + 1) * plane), outputs.reconstruction.data.subarray(i * plane, (i + 1) * plane), channels, height, width, map);
    const graph = outputs.anomaly_map.data.subarray(i * height * width, (i + 1) * height * width);
    for (let p = 0; p < js.length; p++) worst = Math.max(worst, Math.abs(js[p] - graph[p]));
  }
  return worst;
}

const SSIM: AnomalyMapSpec = { kind: 'ssim', channelReduction: 'mean', smoothingSigma: 0, ssimWindowSize: 11, ssimSigma: 1.5 };

describe('scoring head', () => {
  const cases: Array<{ name: string; channels: 1 | 3; height: number; width: number; map: AnomalyMapSpec }> = [
    { name: '1 - SSIM, grey, the CAE default', channels: 1, height: 32, width: 32, map: SSIM },
    { name: '1 - SSIM, RGB, channel max, smoothed, window 7, range 2, not square', channels: 3, height: 20, width: 27, map: { kind: 'ssim', channelReduction: 'max', smoothingSigma: 1.2, ssimWindowSize: 7, ssimSigma: 1, ssimDynamicRange: 2 } },
    { name: '1 - SSIM on a map smaller than the window (radius 5 on 4 px: several reflections)', channels: 1, height: 4, width: 9, map: SSIM },
    { name: 'squared residual smoothed wider than the map (sigma 5, radius 20, on 16 px)', channels: 1, height: 16, width: 16, map: { kind: 'squared', channelReduction: 'mean', smoothingSigma: 5 } },
    { name: 'squared residual, RGB, channel sum', channels: 3, height: 16, width: 16, map: { kind: 'squared', channelReduction: 'sum', smoothingSigma: 0 } },
    { name: 'absolute residual, RGB, channel mean, smoothed sigma 2', channels: 3, height: 24, width: 24, map: { kind: 'absolute', channelReduction: 'mean', smoothingSigma: 2 } },
  ];
  for (const [k, testCase] of cases.entries()) {
    it(`matches anomalyMap in JS within 1e-5: ${testCase.name}`, async () => {
      const card = cardWith(testCase.channels, testCase.height, testCase.width, testCase.map);
      const run = await convertAndRun(mixer(testCase.channels, testCase.height, testCase.width, 40 + k), card, 3, 70 + k);
      expect(run.conversion.report.scoringHead).toEqual({ output: 'anomaly_map' });
      expect(run.conversion.card?.outputs.map((o) => [o.name, o.meaning, o.shape])).toEqual([
        ['reconstruction', 'reconstruction', ['N', testCase.channels, testCase.height, testCase.width]],
        ['anomaly_map', 'anomaly-map', ['N', 1, testCase.height, testCase.width]],
      ]);
      const difference = maxMapDifference(run, testCase.map, 3);
      expect(difference).toBeLessThan(1e-5);
      // The map is not trivially zero: the comparison means something.
      expect(Math.max(...run.outputs.anomaly_map.data)).toBeGreaterThan(0.01);
    });
  }

  it('keeps float32 cancellation small on low-contrast [0, 1] images (moments of centred values)', async () => {
    // Like a grey part: values near 0.6, local variances around 1e-3, where E[x^2] - E[x]^2 of
    // uncentred float32 values loses digits.
    const card = cardWith(1, 32, 32, SSIM);
    const input = tf.input({ shape: [32, 32, 1] });
    const output = tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.randomUniform({ minval: 0.08, maxval: 0.14, seed: 3 }) }).apply(input) as tf.SymbolicTensor;
    const run = await convertAndRun(tf.model({ inputs: input, outputs: output }), card, 4, 12, 'node', [0.55, 0.65]);
    const difference = maxMapDifference(run, SSIM, 4);
    // Centred: 1.7e-6; the same graph without centring: 1.0e-4.
    expect(difference).toBeLessThan(1e-5);
  });

  it('passes the ONNX checker and runs in onnxruntime-web (WASM) with the same numbers', async () => {
    const map: AnomalyMapSpec = { ...SSIM, channelReduction: 'max', smoothingSigma: 1 };
    const card = cardWith(3, 24, 24, map);
    const model = mixer(3, 24, 24, 9);
    const node = await convertAndRun(model, card, 2, 5, 'node');
    const web = await convertAndRun(model, card, 2, 5, 'web');
    expectValidOnnx(node.conversion.onnx);
    expect(maxMapDifference(web, map, 2)).toBeLessThan(1e-5);
    const between = Math.max(...node.outputs.anomaly_map.data.map((v, i) => Math.abs(v - web.outputs.anomaly_map.data[i])));
    expect(between).toBeLessThan(1e-5);
  });

  it('works in an fp16 export (the head stays float32 on the float32 reconstruction)', async () => {
    const card = cardWith(1, 16, 16, SSIM);
    const artifacts = await saveToMemory(mixer(1, 16, 16, 3));
    const conversion = convertLayersModel({ ...artifacts, card, fp16: true });
    expectValidOnnx(conversion.onnx);
    const input = randomArray(256, seededRandom(8));
    const outputs = await runOrtNode(conversion.onnx, { input: { data: input, dims: [1, 1, 16, 16] } });
    const js = anomalyMap(input, outputs.reconstruction.data, 1, 16, 16, SSIM);
    const worst = Math.max(...js.map((v, i) => Math.abs(v - outputs.anomaly_map.data[i])));
    expect(worst).toBeLessThan(1e-5);
  });

  it('is left out, with the reason, where the graph cannot compute the card\'s map', async () => {
    const artifacts = await saveToMemory(mixer(1, 16, 16, 1));
    const skipped = (card: ModelCard, scoringHead?: boolean) => {
      const result = convertLayersModel({ ...artifacts, card, scoringHead });
      expect(result.card?.outputs.map((o) => o.meaning)).toEqual(['reconstruction']);
      return 'skipped' in result.report.scoringHead ? result.report.scoringHead.skipped : 'not skipped';
    };
    expect(skipped(cardWith(1, 16, 16, SSIM), false)).toBe('scoringHead: false');
    const standardized = cardWith(1, 16, 16, {
      ...SSIM,
      positionStandardization: { width: 16, height: 16, mean: new Array(256).fill(0), scale: new Array(256).fill(1), fittedOn: 'test' },
    });
    expect(skipped(standardized)).toMatch(/positionStandardization/);
    expect(convertLayersModel(artifacts).report.scoringHead).toEqual({ skipped: 'no model card' });
  });

  it("refuses a card that already lists an 'anomaly-map' output", async () => {
    const artifacts = await saveToMemory(mixer(1, 16, 16, 1));
    const card = cardWith(1, 16, 16, SSIM, (c) => c.outputs.push({ name: 'anomaly_map', meaning: 'anomaly-map', shape: ['N', 1, 16, 16] }));
    expect(() => convertLayersModel({ ...artifacts, card })).toThrow(/converter's scoring head/);
  });
});
