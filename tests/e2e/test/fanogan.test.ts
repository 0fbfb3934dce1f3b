/** End to end for the f-AnoGAN family: train (tiny) -> export (run folder module + convertTrainedModel) -> onnx.checker, parity with TF.js, runtime-node scores like the trainer. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createNodeInspector } from '@residuum/runtime-node';
import { anomalyMap, imageScore, type RawImage } from '@residuum/scoring';
import { createMemorySource, fanoganPreprocessing, loadModelFromDir, scoreFanoganBatches, trainFanogan, type FanoganArchitecture } from '@residuum/train';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportRunFolder } from '../../../tools/onnx-converter/test/helpers/run-folder.js';
import { expectValidOnnx } from '../../../tools/onnx-converter/test/helpers/onnx-checker.js';
import { tf, useCpuBackend } from '../../../tools/onnx-converter/test/helpers/tfjs-harness.js';
import { seededUniform, withTempDir } from './helpers/train-families.js';

const SIZE = 16;
const ARCH: FanoganArchitecture = { size: SIZE, channels: 1, zDim: 8, baseFilters: 4 };

/** Good parts: a bright disc on a dark background, seeded position jitter and noise (grey); the same images as train's f-AnoGAN test. */
function goodImage(seed: number): RawImage {
  const uniform = seededUniform(seed);
  const cx = 8 + uniform(-1.5, 1.5);
  const cy = 8 + uniform(-1.5, 1.5);
  const data = new Uint8Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < 25;
      data[y * SIZE + x] = Math.max(0, Math.min(255, Math.round((inside ? 200 : 40) + uniform(-10, 10))));
    }
  }
  return { data, width: SIZE, height: SIZE, channels: 1 };
}

function nhwcOf(images: RawImage[]): Float32Array {
  const out = new Float32Array(images.length * SIZE * SIZE);
  images.forEach((image, i) => out.set(Float32Array.from(image.data, (p) => (p / 255 - 0.5) / 0.5), i * SIZE * SIZE));
  return out;
}

describe('f-AnoGAN run folder -> ONNX (16x16 grey, cpu)', () => {
  beforeAll(async () => {
    await useCpuBackend();
  });

  it('converts to one ONNX graph that passes onnx.checker and matches TF.js within 1e-4, and runtime-node scores it like the trainer', async () => {
    await withTempDir(async (tmp) => {
      const dir = join(tmp, 'run');
      const images = Array.from({ length: 40 }, (_, i) => goodImage(100 + i));
      const result = await trainFanogan({
        out: dir,
        dataSource: createMemorySource({ images, preprocessing: fanoganPreprocessing(SIZE, 1), validationFraction: 0.2, seed: 3 }),
        size: SIZE,
        channels: 1,
        zDim: ARCH.zDim,
        baseFilters: ARCH.baseFilters,
        ganEpochs: 3,
        encoderEpochs: 6,
        batch: 8,
        nCritic: 2,
        ganLearningRate: 1e-3,
        encoderLearningRate: 3e-3,
        seed: 11,
        backend: 'cpu',
        quiet: true,
      });

      const onnxFile = join(dir, 'model.onnx');
      const conversion = await exportRunFolder(dir, { outFile: onnxFile });
      expect(conversion.report.outputs.map((o) => o.name)).toEqual(['reconstruction', 'disc_feature_residual', 'anomaly_map']);
      const bytes = new Uint8Array(await readFile(onnxFile));
      expectValidOnnx(bytes);

      const model = await loadModelFromDir(dir);
      const inputs = nhwcOf([...images.slice(0, 3), goodImage(999)]);
      const [tfReconstruction, tfResidual] = tf.tidy(() => (model.predict(tf.tensor4d(inputs, [4, SIZE, SIZE, 1])) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array));
      const session = await ort.InferenceSession.create(bytes);
      // Grey: NHWC and NCHW hold the same numbers.
      const outputs = await session.run({ input: new ort.Tensor('float32', inputs, [4, 1, SIZE, SIZE]) });
      const ortReconstruction = outputs.reconstruction.data as Float32Array;
      const ortResidual = outputs.disc_feature_residual.data as Float32Array;
      expect(outputs.disc_feature_residual.dims).toEqual([4, 1]);
      let worst = 0;
      for (let i = 0; i < tfReconstruction.length; i++) worst = Math.max(worst, Math.abs(tfReconstruction[i] - ortReconstruction[i]));
      for (let i = 0; i < 4; i++) worst = Math.max(worst, Math.abs(tfResidual[i] - ortResidual[i]));
      expect(worst).toBeLessThanOrEqual(1e-4);
      expect(Math.max(...Array.from(ortResidual))).toBeGreaterThan(0);

      // The runtimes' score (map mean + kappa * residual) from ORT outputs equals the trainer's.
      const card = result.card;
      if (card === undefined) throw new Error('trainFanogan wrote no card');
      const plane = SIZE * SIZE;
      const score = (i: number): number =>
        imageScore(anomalyMap(inputs.subarray(i * plane, (i + 1) * plane), ortReconstruction.subarray(i * plane, (i + 1) * plane), 1, SIZE, SIZE, card.score.map), card.score.image, {
          discriminatorResidual: ortResidual[i],
        });
      let pixelMean = 0;
      for (let p = 0; p < plane; p++) pixelMean += (inputs[p] - tfReconstruction[p]) ** 2;
      expect(score(0)).toBeCloseTo(pixelMean / plane + tfResidual[0], 4);
      await session.release();

      // runtime-node scores the file with its embedded card (kappa and the residual output) like the trainer.
      const trainerScores = await scoreFanoganBatches(model, (async function* () { yield { data: inputs, count: 4 }; })(), ARCH, card.score);
      const inspector = await createNodeInspector(bytes, { provider: 'cpu', batchSize: 2 });
      const results = await inspector.inspectTensors(
        [0, 1, 2, 3].map((i) => ({ source: `image-${i}`, input: { data: inputs.slice(i * plane, (i + 1) * plane), channels: 1, height: SIZE, width: SIZE } })),
      );
      await inspector.dispose();
      results.forEach((r, i) => {
        if (!r.ok) throw new Error(`runtime-node failed on image ${i}: ${JSON.stringify(r)}`);
        expect(Math.abs(r.score - trainerScores[i]) / Math.abs(trainerScores[i])).toBeLessThan(1e-4);
        expect(r.threshold).toBe(card.threshold.value);
      });
      model.dispose();
    });
  }, 360_000);
});
