/** End to end for the DFR family: train (tiny) -> export (run folder module + convertTrainedModel) -> onnx.checker, parity with TF.js, runtime-node scores like the trainer. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createNodeInspector } from '@residuum/runtime-node';
import { validateModelCard, type RawImage } from '@residuum/scoring';
import { createMemorySource, dfrPreprocessing, loadModelFromDir, scoreDfrBatches, trainDfr } from '@residuum/train';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportRunFolder } from '../../../tools/onnx-converter/test/helpers/run-folder.js';
import { expectValidOnnx } from '../../../tools/onnx-converter/test/helpers/onnx-checker.js';
import { tf, useCpuBackend } from '../../../tools/onnx-converter/test/helpers/tfjs-harness.js';
import { seededUniform, testBackbone, withTempDir } from './helpers/train-families.js';

const SIZE = 64;

/** Good parts: a seeded diagonal stripe texture with noise (RGB); the same images as train's DFR test. */
function goodImage(seed: number): RawImage {
  const uniform = seededUniform(seed);
  const phase = uniform(0, 6);
  const data = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const v = 128 + 70 * Math.sin((x + y) / 3 + phase) + uniform(-15, 15);
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

describe('DFR run folder -> ONNX (0.25 backbone, 64 px, cpu)', () => {
  beforeAll(async () => {
    await useCpuBackend();
  });

  it('converts to one ONNX graph that passes onnx.checker, matches TF.js within 1e-4, and runtime-node scores it like the trainer', async () => {
    await withTempDir(async (dir) => {
      const runDir = join(dir, 'run');
      const backbone = testBackbone();
      const source = createMemorySource({
        images: Array.from({ length: 14 }, (_, i) => goodImage(100 + i)),
        preprocessing: dfrPreprocessing(SIZE, 3, backbone),
        validationFraction: 0.25,
        seed: 3,
        description: 'synthetic stripes',
      });
      await trainDfr({ out: runDir, dataSource: source, size: SIZE, channels: 3, backbone, epochs: 6, batch: 64, learningRate: 3e-3, backend: 'cpu', seed: 5, log: () => undefined });
      const card = validateModelCard(JSON.parse(await readFile(join(runDir, 'model-card.json'), 'utf8')));

      // One ONNX graph (backbone included), checked by onnx.checker, equal to TF.js within 1e-4.
      const onnxFile = join(dir, 'dfr.onnx');
      const converted = await exportRunFolder(runDir, { outFile: onnxFile });
      expect(converted.report.outputs).toEqual([{ name: 'feature_error', shape: ['N', 1, 8, 8] }]);
      // The standardization travels in the card: runtime-node applies it below exactly as the trainer did.
      expect(card.score.map.positionStandardization).toEqual(expect.objectContaining({ width: 8, height: 8 }));
      const bytes = new Uint8Array(await readFile(onnxFile));
      expectValidOnnx(bytes);

      const model = await loadModelFromDir(runDir);
      const images = [goodImage(900), defectImage(901)];
      const nhwc = new Float32Array(2 * SIZE * SIZE * 3);
      images.forEach((image, i) => nhwc.set(nhwcOf(image), i * SIZE * SIZE * 3));
      const x = tf.tensor4d(nhwc, [2, SIZE, SIZE, 3]);
      const expected = (await (model.predict(x) as tf.Tensor).data()) as Float32Array;
      const session = await ort.InferenceSession.create(bytes);
      const nchw = (await x.transpose([0, 3, 1, 2]).data()) as Float32Array;
      const output = await session.run({ input: new ort.Tensor('float32', nchw, [2, 3, SIZE, SIZE]) });
      await session.release();
      const actual = output.feature_error.data as Float32Array;
      expect(actual.length).toBe(expected.length);
      let maxDiff = 0;
      for (let i = 0; i < actual.length; i++) maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
      expect(maxDiff).toBeLessThan(1e-4);

      // The trainer's scores (the defect image scores higher), the reference for runtime-node.
      const scores = await scoreDfrBatches(model, (async function* () { yield { data: nhwc, count: 2 }; })(), { inputSize: SIZE, channels: 3, featureGrid: 8 }, card.score);
      expect(scores[1]).toBeGreaterThan(scores[0]);

      // runtime-node scores the converted file with its embedded card exactly like the trainer did.
      const inspector = await createNodeInspector(bytes, { provider: 'cpu', batchSize: 2 });
      const plane = SIZE * SIZE;
      const results = await inspector.inspectTensors(
        [0, 1].map((i) => ({ source: `image-${i}`, input: { data: nchw.slice(i * 3 * plane, (i + 1) * 3 * plane), channels: 3, height: SIZE, width: SIZE } })),
      );
      await inspector.dispose();
      results.forEach((r, i) => {
        if (!r.ok) throw new Error(`runtime-node failed on image ${i}: ${JSON.stringify(r)}`);
        expect(Math.abs(r.score - scores[i]) / Math.max(1e-6, Math.abs(scores[i]))).toBeLessThan(1e-4);
        expect(r.threshold).toBe(card.threshold.value);
      });
      tf.dispose(x);
      model.dispose();
    });
  }, 180_000); // trains a DFR on the MobileNet backbone: 21-32 s alone, over 60 s on the shared 2 cores under load
});
