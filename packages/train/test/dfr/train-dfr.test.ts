import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validateModelCard, type RawImage } from '@residuum/scoring';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createMemorySource, type TrainingDataSource } from '../../src/training/data.js';
import { loadModelFromDir } from '../../src/training/model-io.js';
import { dfrPreprocessing, scoreDfrBatches, trainDfr, type DfrTrainResult } from '../../src/families/dfr/index.js';
import { createRandom } from '../../src/random.js';
import { useCpuBackend, withTempDir } from '../helpers.js';
import { testBackbone } from './helpers.js';

const SIZE = 64;

/** Good parts: a seeded diagonal stripe texture with noise (RGB). */
function goodImage(seed: number): RawImage {
  const random = createRandom(seed);
  const phase = random.uniform(0, 6);
  const data = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const v = 128 + 70 * Math.sin((x + y) / 3 + phase) + random.uniform(-15, 15);
      for (let c = 0; c < 3; c++) data[(y * SIZE + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v - 10 * c)));
    }
  }
  return { data, width: SIZE, height: SIZE, channels: 3 };
}

/** A good part with a flat dark blob (rows/cols 20..39): the defect. */
function defectImage(seed: number): RawImage {
  const image = goodImage(seed);
  for (let y = 20; y < 40; y++) for (let x = 20; x < 40; x++) for (let c = 0; c < 3; c++) image.data[(y * SIZE + x) * 3 + c] = 20;
  return image;
}

function nhwcOf(image: RawImage): Float32Array {
  // The spec's normalization: (p/255 - 0.5) / 0.5, interleaved like the data source.
  return Float32Array.from(image.data, (p) => (p / 255 - 0.5) / 0.5);
}

describe('trainDfr (0.25 backbone, 64 px, cpu)', () => {
  let result: DfrTrainResult;
  let runDir: string;
  let source: TrainingDataSource;
  const logs: string[] = [];

  beforeAll(async () => {
    await useCpuBackend();
  });

  // Conversion, onnx.checker, ONNX parity and Node-runtime scoring are tested end to end in tests/e2e (test/dfr.test.ts).
  it('trains, writes a valid run folder and localises the defect', async () => {
    await withTempDir(async (dir) => {
      runDir = join(dir, 'run');
      const backbone = testBackbone();
      source = createMemorySource({
        images: Array.from({ length: 14 }, (_, i) => goodImage(100 + i)),
        preprocessing: dfrPreprocessing(SIZE, 3, backbone),
        validationFraction: 0.25,
        seed: 3,
        description: 'synthetic stripes',
      });
      result = await trainDfr({ out: runDir, dataSource: source, size: SIZE, channels: 3, backbone, epochs: 6, batch: 64, learningRate: 3e-3, backend: 'cpu', seed: 5, log: (l) => logs.push(l) });

      // Loss falls.
      expect(result.history).toHaveLength(6);
      expect(result.history[5].loss).toBeLessThan(result.history[0].loss * 0.8);
      expect(result.history[result.bestEpoch - 1].valLoss).toBeLessThan(result.history[0].valLoss);
      // PCA chose a width in range and the card explains the graph.
      expect(result.latentWidth).toBeGreaterThanOrEqual(1);
      expect(result.latentWidth).toBeLessThan(240);
      expect(result.pca?.fraction).toBe(0.9);
      const card = validateModelCard(JSON.parse(await readFile(join(runDir, 'model-card.json'), 'utf8')));
      expect(card.family).toBe('dfr');
      expect(card.score.map.kind).toBe('model-output');
      expect(card.outputs).toEqual([expect.objectContaining({ name: 'feature_error', meaning: 'feature-error-map', shape: ['N', 1, 8, 8] })]);
      expect(card.preprocessing.mean).toEqual([0.5, 0.5, 0.5]);
      expect(card.calibration.pixelThreshold).toBeGreaterThan(0);
      expect(card.threshold.value).toBeGreaterThan(0);
      const extras = card.extras?.dfr as Record<string, unknown>;
      expect(extras.taps).toEqual(backbone.taps);
      expect(extras.latentWidth).toBe(result.latentWidth);
      expect(String(extras.whyErrorMapOutput)).toMatch(/one small/);
      const history = JSON.parse(await readFile(join(runDir, 'history.json'), 'utf8')) as { family: string; epochs: Array<{ stage: string; images: number }> };
      expect(history.family).toBe('dfr');
      expect(history.epochs).toHaveLength(6);
      expect(history.epochs.every((e) => e.stage === 'train' && e.images === source.trainCount)).toBe(true);
      expect(result.timings.imagesPerSecond).toBeGreaterThan(0);

      const model = await loadModelFromDir(runDir);
      // Per-position standardization, fitted on the raw error maps of every training image (fewer than 500 here).
      const stats = card.score.map.positionStandardization;
      expect(stats).toBeDefined();
      expect(card.score.image).toEqual({ kind: 'top-k-mean', topKFraction: 0.01 });
      expect(stats?.fittedOn).toBe(`${source.trainCount} normal training images`);
      const rawMean = new Float64Array(64);
      for await (const batch of source.trainBatches(8, 0)) {
        const raw = (await (model.predict(tf.tensor4d(batch.data, [batch.count, SIZE, SIZE, 3])) as tf.Tensor).data()) as Float32Array;
        for (let i = 0; i < raw.length; i++) rawMean[i % 64] += raw[i] / source.trainCount;
      }
      rawMean.forEach((m, p) => expect(Math.abs((stats?.mean[p] ?? NaN) - m)).toBeLessThan(1e-5 * Math.max(1, m)));
      expect(Math.min(...(stats?.scale ?? [0]))).toBeGreaterThan(0);
      const images = [goodImage(900), defectImage(901)];
      const nhwc = new Float32Array(2 * SIZE * SIZE * 3);
      images.forEach((image, i) => nhwc.set(nhwcOf(image), i * SIZE * SIZE * 3));

      // The defect lights up its own region of the map more than the rest of the image.
      const maps: Float32Array[] = [];
      const scores = await scoreDfrBatches(model, (async function* () { yield { data: nhwc, count: 2 }; })(), { inputSize: SIZE, channels: 3, featureGrid: 8 }, card.score, (map) => maps.push(map));
      expect(scores[1]).toBeGreaterThan(scores[0]);
      let inside = 0;
      let outside = 0;
      for (let y = 0; y < SIZE; y++) for (let xx = 0; xx < SIZE; xx++) {
        const v = maps[1][y * SIZE + xx];
        if (y >= 20 && y < 40 && xx >= 20 && xx < 40) inside += v / 400;
        else outside += v / (SIZE * SIZE - 400);
      }
      expect(inside).toBeGreaterThan(2 * outside);
      model.dispose();
    });
  });

  it('rejects bad options with the name of the option', async () => {
    const backbone = testBackbone();
    await expect(trainDfr({ out: '' })).rejects.toThrow(/out \(the run folder\)/);
    await expect(trainDfr({ out: '/tmp/x' })).rejects.toThrow(/data \(the dataset folder\) or dataSource/);
    await expect(trainDfr({ out: '/tmp/x', data: '/tmp', backbone, epochs: 0 })).rejects.toThrow(/epochs must be a positive integer/);
    await expect(trainDfr({ out: '/tmp/x', data: '/tmp', backbone, pixelFpr: 1.5 })).rejects.toThrow(/pixelFpr must be in/);
    await expect(trainDfr({ out: '/tmp/x', data: '/tmp', backbone, positionStandardizationImages: 1 })).rejects.toThrow(/positionStandardizationImages must be 0 \(off\) or an integer >= 2/);
    await expect(trainDfr({ out: '/tmp/x', data: '/tmp', backbone: { ...backbone, taps: [] } })).rejects.toThrow(/taps must be a non-empty list/);
  });
});
