/**
 * One image gets one score everywhere (issue #13): for every family, train a tiny model, let the
 * trainer calibrate, export with the converter, then score the validation images with runtime-node.
 * The scores must equal what calibration saw within 1e-4 relative, and the verdicts must be the
 * same except for scores within that tolerance of the threshold. AESc included: calibration runs
 * card.mcDropout.samples passes with the runtimes' own seeded masks.
 *
 * What calibration saw is recomputed with the trainer's own scoring of the saved model; that those
 * are the calibration's scores is checked against the card's calibration statistics.
 * Files written before (an ONNX and a run folder from main 0bd255a, fixtures/v1-aesc-run) still read
 * and score exactly as they did.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNodeInspector } from '@residuum/runtime-node';
import { calibrationStats, DEFAULT_MC_DROPOUT_SEED, isAnomalous, mcDropoutSeed, validateModelCard, type ModelCard, type RawImage } from '@residuum/scoring';
import {
  createMemorySource,
  dfrPreprocessing,
  fanoganPreprocessing,
  loadModelFromDir,
  OnnxTapExtractor,
  onnxBackbonePreprocessing,
  predictOnTaps,
  scoreDfrBatches,
  scorePatchCoreBatches,
  scoreFanoganBatches,
  scoreImages,
  train,
  trainDfr,
  trainFanogan,
  trainingPreprocessing,
  trainPatchCore,
  type NhwcBatch,
  type TrainingDataSource,
} from '@residuum/train';
import { beforeAll, describe, expect, it } from 'vitest';
import { RESNET50 } from '@residuum/onnx-converter';
import { exportRunFolder } from '../../../tools/onnx-converter/test/helpers/run-folder.js';
import { useCpuBackend } from '../../../tools/onnx-converter/test/helpers/tfjs-harness.js';
import { seededUniform, testBackbone, withTempDir } from './helpers/train-families.js';

const TOLERANCE = 1e-4;

/** Seeded "parts": a bright disc with position jitter on a gradient, with noise; grey or RGB. */
function partImage(seed: number, size: number, channels: 1 | 3): RawImage {
  const uniform = seededUniform(seed);
  const cx = size / 2 + uniform(-2, 2);
  const cy = size / 2 + uniform(-2, 2);
  const radius = size * uniform(0.2, 0.3);
  const data = new Uint8Array(size * size * channels);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const base = (x - cx) ** 2 + (y - cy) ** 2 < radius ** 2 ? 190 : 40 + (60 * x) / size;
      for (let c = 0; c < channels; c++) data[(y * size + x) * channels + c] = Math.max(0, Math.min(255, Math.round(base + uniform(-12, 12) - 8 * c)));
    }
  }
  return { data, width: size, height: size, channels };
}

/** The validation images (NHWC batches) as runtime-node's CHW tensors. */
async function validationTensors(source: TrainingDataSource, size: number, channels: number): Promise<{ batches: NhwcBatch[]; chw: Float32Array[] }> {
  const batches: NhwcBatch[] = [];
  const chw: Float32Array[] = [];
  const plane = size * size;
  for await (const batch of source.validationBatches(4)) {
    batches.push(batch);
    for (let i = 0; i < batch.count; i++) {
      const image = new Float32Array(channels * plane);
      for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) image[c * plane + p] = batch.data[(i * plane + p) * channels + c];
      chw.push(image);
    }
  }
  return { batches, chw };
}

async function* replay(batches: readonly NhwcBatch[]): AsyncGenerator<NhwcBatch> {
  for (const batch of batches) yield batch;
}

/** Exports the run folder, scores the validation images with runtime-node and compares with calibration's scores. */
async function expectRuntimeEqualsCalibration(
  runDir: string,
  source: TrainingDataSource,
  size: number,
  channels: 1 | 3,
  calibrationScores: (card: ModelCard, batches: NhwcBatch[]) => Promise<number[]>,
): Promise<void> {
  const card = validateModelCard(JSON.parse(await readFile(join(runDir, 'model-card.json'), 'utf8')));
  const { batches, chw } = await validationTensors(source, size, channels);
  const seen = await calibrationScores(card, batches);
  // These are the scores the trainer calibrated on: the card's statistics come from them.
  const stats = calibrationStats(seen);
  expect(card.calibration.count).toBe(seen.length);
  expect(card.calibration.min).toBe(stats.min);
  expect(card.calibration.max).toBe(stats.max);
  expect(card.calibration.mean).toBeCloseTo(stats.mean, 12);

  const onnxFile = join(runDir, 'model.onnx');
  await exportRunFolder(runDir, { outFile: onnxFile });
  const inspector = await createNodeInspector(onnxFile, { provider: 'cpu', batchSize: 5 });
  try {
    expect(inspector.card.mcDropout?.seed).toBe(card.mcDropout?.seed);
    const results = await inspector.inspectTensors(chw.map((data, i) => ({ source: `validation-${i}`, input: { data, channels, height: size, width: size } })));
    const threshold = card.threshold.value;
    results.forEach((result, i) => {
      if (!result.ok) throw new Error(`runtime-node failed on validation image ${i}: ${result.error}`);
      const relative = Math.abs(result.score - seen[i]) / Math.max(Math.abs(seen[i]), Number.MIN_VALUE);
      expect(relative, `image ${i}: runtime ${result.score}, calibration ${seen[i]}`).toBeLessThan(TOLERANCE);
      expect(result.threshold).toBe(threshold);
      if (Math.abs(seen[i] - threshold) > TOLERANCE * Math.abs(threshold)) expect(result.isAnomalous, `verdict of image ${i}`).toBe(isAnomalous(seen[i], threshold));
    });
  } finally {
    await inspector.dispose();
  }
}

describe('calibration scores = runtime-node scores of the exported model, every family', () => {
  beforeAll(useCpuBackend);

  for (const family of ['cae', 'ncae', 'vae', 'aesc'] as const) {
    it(`${family}: trained, calibrated, exported, scored by runtime-node`, async () => {
      await withTempDir(async (dir) => {
        const size = 16;
        const channels = family === 'vae' ? 3 : 1;
        const source = createMemorySource({
          images: Array.from({ length: 24 }, (_, i) => partImage(200 + i, size, channels)),
          preprocessing: trainingPreprocessing(size, channels),
          validationFraction: 0.25,
          seed: 3,
        });
        const runDir = join(dir, family);
        const modelOptions = family === 'aesc' ? { widths: [4, 6, 8] } : family === 'vae' ? { widths: [4, 8], latentDim: 4 } : { widths: [6, 8] };
        await train({ model: family, out: runDir, dataSource: source, size, channels, epochs: 2, batch: 6, seed: 7, backend: 'cpu', quiet: true, learningRate: 1e-2, modelOptions });
        await expectRuntimeEqualsCalibration(runDir, source, size, channels, async (card, batches) => {
          if (family === 'aesc') {
            expect(card.mcDropout?.samples).toBeGreaterThan(1);
            expect(card.mcDropout?.maskInputs.length).toBe(3);
          }
          const model = await loadModelFromDir(runDir);
          const scores = await scoreImages(model, replay(batches), { height: size, width: size, channels }, card);
          model.dispose();
          return scores;
        });
      });
    }, 240_000);
  }

  it('dfr: position standardization included', async () => {
    await withTempDir(async (dir) => {
      const size = 64;
      const backbone = testBackbone();
      const source = createMemorySource({
        images: Array.from({ length: 14 }, (_, i) => partImage(300 + i, size, 3)),
        preprocessing: dfrPreprocessing(size, 3, backbone),
        validationFraction: 0.3,
        seed: 3,
      });
      const runDir = join(dir, 'dfr');
      await trainDfr({ out: runDir, dataSource: source, size, channels: 3, backbone, epochs: 2, batch: 64, learningRate: 3e-3, backend: 'cpu', seed: 5, log: () => undefined });
      await expectRuntimeEqualsCalibration(runDir, source, size, 3, async (card, batches) => {
        expect(card.score.map.positionStandardization).toBeDefined();
        const model = await loadModelFromDir(runDir);
        const scores = await scoreDfrBatches(model, replay(batches), { inputSize: size, channels: 3, featureGrid: 8 }, card.score);
        model.dispose();
        return scores;
      });
    });
  }, 300_000);

  it('fanogan: the kappa term included', async () => {
    await withTempDir(async (dir) => {
      const size = 16;
      const source = createMemorySource({ images: Array.from({ length: 30 }, (_, i) => partImage(400 + i, size, 1)), preprocessing: fanoganPreprocessing(size, 1), validationFraction: 0.2, seed: 3 });
      const runDir = join(dir, 'fanogan');
      const arch = { size, channels: 1 as const, zDim: 8, baseFilters: 4 };
      await trainFanogan({ out: runDir, dataSource: source, ...arch, ganEpochs: 2, encoderEpochs: 2, batch: 8, nCritic: 2, seed: 11, backend: 'cpu', quiet: true });
      await expectRuntimeEqualsCalibration(runDir, source, size, 1, async (card, batches) => {
        expect(card.score.image.kappa).toBeGreaterThan(0);
        const model = await loadModelFromDir(runDir);
        const scores = await scoreFanoganBatches(model, replay(batches), arch, card.score);
        model.dispose();
        return scores;
      });
    });
  }, 300_000);

  it('patchcore: nearest-neighbour distances on an ONNX backbone, smoothed at the input size, mean-of-map score', async () => {
    await withTempDir(async (dir) => {
      const size = 32;
      const backbone = { onnxPath: fileURLToPath(new URL('../../../packages/train/test/fixtures/onnx-backbone/backbone.onnx', import.meta.url)), taps: ['layer2', 'layer3'], preprocessing: RESNET50.preprocessing, name: 'tiny-onnx-backbone' };
      const source = createMemorySource({ images: Array.from({ length: 16 }, (_, i) => partImage(500 + i, size, 3)), preprocessing: onnxBackbonePreprocessing(backbone, size), validationFraction: 0.3, seed: 3 });
      const runDir = join(dir, 'patchcore');
      await trainPatchCore({ out: runDir, dataSource: source, size, backbone, dim: 16, bankSize: 80, backend: 'cpu', seed: 13, quiet: true });
      await expectRuntimeEqualsCalibration(runDir, source, size, 3, async (card, batches) => {
        expect(card.score.map.smoothingAt).toBe('input');
        const head = await loadModelFromDir(runDir);
        const extractor = await OnnxTapExtractor.open(backbone, size);
        const scores = await scorePatchCoreBatches((batch) => predictOnTaps(extractor, head, batch), replay(batches), card, size);
        await extractor.dispose();
        head.dispose();
        return scores;
      });
    });
  }, 120_000);

  it('patchcore with a 5x5 local window (taps layer1 + layer2, grids 16 and 8): the export averages as the trainer did', async () => {
    await withTempDir(async (dir) => {
      const size = 32;
      const taps = ['layer1', 'layer2'];
      const backbone = { onnxPath: fileURLToPath(new URL('../../../packages/train/test/fixtures/onnx-backbone/backbone.onnx', import.meta.url)), taps, preprocessing: RESNET50.preprocessing, name: 'tiny-onnx-backbone' };
      const source = createMemorySource({ images: Array.from({ length: 16 }, (_, i) => partImage(600 + i, size, 3)), preprocessing: onnxBackbonePreprocessing(backbone, size), validationFraction: 0.3, seed: 3 });
      const runDir = join(dir, 'patchcore-window-5');
      await trainPatchCore({ out: runDir, dataSource: source, size, backbone, layers: taps, localWindow: 5, dim: 16, bankSize: 120, backend: 'cpu', seed: 13, quiet: true });
      // The saved head pools every tap over 5x5: the export converts that head.
      const head = JSON.parse(await readFile(join(runDir, 'model.json'), 'utf8')) as { modelTopology: { model_config?: { config: { layers: Array<{ class_name: string; config: { pool_size?: number[] } }> } }; config?: { layers: Array<{ class_name: string; config: { pool_size?: number[] } }> } } };
      const layers = (head.modelTopology.model_config ?? head.modelTopology).config?.layers ?? [];
      expect(layers.filter((l) => l.class_name === 'AveragePooling2D').map((l) => l.config.pool_size)).toEqual([[5, 5], [5, 5]]);
      await expectRuntimeEqualsCalibration(runDir, source, size, 3, async (card, batches) => {
        expect(card.extras?.patchcore).toMatchObject({ localWindow: 5, localPooling: '5x5 average per tap, stride 1, same padding (padding cells not counted)', grid: 16, layers: taps });
        const model = await loadModelFromDir(runDir);
        const extractor = await OnnxTapExtractor.open(backbone, size);
        const scores = await scorePatchCoreBatches((batch) => predictOnTaps(extractor, model, batch), replay(batches), card, size);
        await extractor.dispose();
        model.dispose();
        return scores;
      });
    });
  }, 120_000);
});

describe('files written before the MC-Dropout seed was in the card (fixtures from main 0bd255a)', () => {
  const fixture = fileURLToPath(new URL('./fixtures/v1-aesc-run/', import.meta.url));
  interface Expected {
    inputs: number[][];
    mcDefault: Array<{ score: number; isAnomalous: boolean }>;
    mcSamples1: Array<{ score: number; isAnomalous: boolean }>;
  }

  async function expectScoresAsBefore(onnx: string | Uint8Array): Promise<void> {
    const expected = JSON.parse(await readFile(join(fixture, 'expected-scores.json'), 'utf8')) as Expected;
    const inspector = await createNodeInspector(onnx, { provider: 'cpu', batchSize: 3 });
    try {
      expect(inspector.card.mcDropout?.seed).toBeUndefined();
      const tensors = expected.inputs.map((data, i) => ({ source: `input-${i}`, input: { data: Float32Array.from(data), channels: 1, height: 16, width: 16 } }));
      for (const [options, then] of [[{}, expected.mcDefault], [{ mcSamples: 1 }, expected.mcSamples1]] as const) {
        const now = await inspector.inspectTensors(tensors, options);
        now.forEach((result, i) => {
          if (!result.ok) throw new Error(result.error);
          expect(Math.abs(result.score - then[i].score) / then[i].score, `image ${i} ${JSON.stringify(options)}`).toBeLessThan(1e-9);
          expect(result.isAnomalous).toBe(then[i].isAnomalous);
        });
      }
      // The stochastic passes differ from the deterministic one: the fixture exercises the masks.
      expect(expected.mcDefault[0].score).not.toBe(expected.mcSamples1[0].score);
    } finally {
      await inspector.dispose();
    }
  }

  it('an ONNX file exported then scores as it did (masks from the historical default seed)', async () => {
    await expectScoresAsBefore(join(fixture, 'model.onnx'));
  });

  it('a run folder trained then reads, exports, and its ONNX scores as it did', async () => {
    const card = validateModelCard(JSON.parse(await readFile(join(fixture, 'run', 'model-card.json'), 'utf8')));
    expect(card.mcDropout?.seed).toBeUndefined();
    expect(mcDropoutSeed(card)).toBe(DEFAULT_MC_DROPOUT_SEED);
    await withTempDir(async (dir) => {
      const { onnx } = await exportRunFolder(join(fixture, 'run'), { outFile: join(dir, 'model.onnx') });
      await expectScoresAsBefore(onnx);
    });
  });
});
