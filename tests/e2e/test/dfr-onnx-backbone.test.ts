/**
 * DFR on an ONNX backbone (the path of `dfr --backbone resnet50`), end to end on a tiny stand-in: the
 * backbone runs in onnxruntime-node during training, the run folder holds the TF.js head (taps in) and
 * backbone.json, and the export splices both into ONE file with the card. The file passes the
 * checker, its map equals the trainer's (ORT taps -> TF.js head) within 1e-4, and runtime-node scores
 * it like the trainer. The stand-in is @residuum/train's committed fixture (TF.js 32 px backbone and
 * its cut ONNX, taps layer1-layer3 at strides 2/4/8), with ResNet-50's Caffe preprocessing.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createNodeInspector } from '@residuum/runtime-node';
import { preprocessImage, validateModelCard } from '@residuum/scoring';
import { createMemorySource, loadModelFromDir, OnnxTapExtractor, onnxBackbonePreprocessing, RESNET50_DFR_TAPS, scoreDfrBatches, trainDfr } from '@residuum/train';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConversionError, FP16_STORAGE_SCORE_TOLERANCE } from '@residuum/onnx-converter';
import { exportRunFolder } from '../../../tools/onnx-converter/test/helpers/run-folder.js';
import { expectValidOnnx } from '../../../tools/onnx-converter/test/helpers/onnx-checker.js';
import { runOrtNode } from '../../../tools/onnx-converter/test/helpers/runtimes.js';
import { tf, useCpuBackend } from '../../../tools/onnx-converter/test/helpers/tfjs-harness.js';
import { withTempDir } from './helpers/train-families.js';
import { type BlobDefect, chwToNhwc, scoreInRuntimeNode, STAND_IN_SIZE, standInBackbone, stripes } from './helpers/onnx-backbone.js';

const SIZE = STAND_IN_SIZE;
const spec = standInBackbone(RESNET50_DFR_TAPS);
/** A dark blob, which the stripes never reach. */
const DEFECT: BlobDefect = { top: 10, bottom: 20, left: 10, right: 20, value: 20 };

describe('DFR on an ONNX backbone: train -> run folder (head + backbone.json) -> one spliced ONNX file', () => {
  beforeAll(useCpuBackend);

  it('splices head and backbone into one checked file that maps and scores like the trainer', async () => {
    await withTempDir(async (dir) => {
      const runDir = join(dir, 'run');
      const preprocessing = onnxBackbonePreprocessing(spec, SIZE);
      const source = createMemorySource({ images: Array.from({ length: 12 }, (_, i) => stripes(300 + i)), preprocessing, validationFraction: 0.25, seed: 3, description: 'synthetic stripes' });
      const log: string[] = [];
      const result = await trainDfr({ out: runDir, dataSource: source, size: SIZE, channels: 3, backbone: spec, cell: 2, epochs: 4, batch: 64, learningRate: 3e-3, backend: 'cpu', seed: 5, log: (l) => log.push(l) });
      expect(log.join('\n')).toContain('DFR: tiny-onnx-backbone (ONNX, onnxruntime-node), taps layer1, layer2, layer3 -> 8x8 x 56 features');
      expect(result.shape).toMatchObject({ featureGrid: 8, featureChannels: 56 });
      const card = validateModelCard(JSON.parse(await readFile(join(runDir, 'model-card.json'), 'utf8')));
      expect(card.preprocessing).toMatchObject({ channelOrder: 'bgr', pixelDivisor: 1, mean: [103.939, 116.779, 123.68], width: SIZE });
      const backboneFile = JSON.parse(await readFile(join(runDir, 'backbone.json'), 'utf8')) as { sha256: string; taps: string[] };
      expect(backboneFile.taps).toEqual(['layer1', 'layer2', 'layer3']);

      const converted = await exportRunFolder(runDir, { outFile: join(dir, 'dfr.onnx') });
      expect(converted.report.outputs).toEqual([{ name: 'feature_error', shape: ['N', 1, 8, 8] }]);
      expect(converted.report.inputNames).toEqual(['input']);
      expect(converted.report.nodes).toBeGreaterThan(20);
      const bytes = new Uint8Array(await readFile(join(dir, 'dfr.onnx')));
      expectValidOnnx(bytes);

      // The trainer's maps: taps from onnxruntime, then the saved TF.js head.
      const head = await loadModelFromDir(runDir);
      const extractor = await OnnxTapExtractor.open(spec, SIZE, { threads: 1 });
      const plane = SIZE * SIZE;
      const chw = [stripes(900), stripes(901, DEFECT)].map((image) => preprocessImage(image, preprocessing));
      const nhwc = new Float32Array(2 * 3 * plane);
      chw.forEach((c, i) => nhwc.set(chwToNhwc(c, 3, plane), i * 3 * plane));
      const mapsOf = async (batch: { data: Float32Array; count: number }) => {
        const taps = await extractor.extract(batch.data, batch.count);
        const output = head.predict(taps) as tf.Tensor;
        const data = (await output.data()) as Float32Array;
        tf.dispose([output, ...taps]);
        return data;
      };
      const expected = await mapsOf({ data: nhwc, count: 2 });
      const nchw = new Float32Array(2 * 3 * plane);
      chw.forEach((c, i) => nchw.set(c, i * 3 * plane));
      const actual = (await runOrtNode(bytes, { input: { data: nchw, dims: [2, 3, SIZE, SIZE] } })).feature_error.data;
      let worst = 0;
      actual.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected[i]) / Math.max(1, Math.abs(expected[i])))));
      expect(worst).toBeLessThan(1e-4);

      const scores = await scoreDfrBatches(mapsOf, (async function* () { yield { data: nhwc, count: 2 }; })(), { inputSize: SIZE, channels: 3, featureGrid: 8 }, card.score);
      expect(scores[1]).toBeGreaterThan(scores[0]);
      const inspector = await createNodeInspector(bytes, { provider: 'cpu', batchSize: 2 });
      const results = await inspector.inspectTensors(chw.map((data, i) => ({ source: `image-${i}`, input: { data, channels: 3, height: SIZE, width: SIZE } })));
      await inspector.dispose();
      results.forEach((r, i) => {
        if (!r.ok) throw new Error(`runtime-node failed on image ${i}: ${JSON.stringify(r)}`);
        expect(Math.abs(r.score - scores[i]) / Math.max(1e-6, Math.abs(scores[i]))).toBeLessThan(1e-4);
      });
      await extractor.dispose();
      head.dispose();

      // fp16 storage (`residuum export --fp16` of a spliced file): same scores within the stated
      // tolerance, same verdicts at the card's threshold, smaller file.
      const halfResult = await exportRunFolder(runDir, { outFile: join(dir, 'dfr-fp16.onnx'), fp16: true, fp16MinElements: 64 });
      expect(halfResult.report.fp16Storage?.converted).toBeGreaterThan(0);
      const half = new Uint8Array(await readFile(join(dir, 'dfr-fp16.onnx')));
      expectValidOnnx(half);
      expect(half.byteLength).toBeLessThan(bytes.byteLength);
      const images = [...Array.from({ length: 6 }, (_, i) => stripes(910 + i)), ...Array.from({ length: 6 }, (_, i) => stripes(920 + i, DEFECT))];
      const tensors = images.map((image, i) => ({ source: `image-${i}`, input: { data: preprocessImage(image, preprocessing), channels: 3, height: SIZE, width: SIZE } }));
      const scoreWith = (model: Uint8Array) => scoreInRuntimeNode(model, tensors);
      const full = await scoreWith(bytes);
      const stored = await scoreWith(half);
      const worstScore = Math.max(...full.map((r, i) => Math.abs(stored[i].score - r.score) / Math.abs(r.score)));
      console.log(`fp16 storage vs fp32 (tiny stand-in, runtime-node): worst relative score difference ${worstScore.toExponential(2)}; verdicts ${full.map((r) => (r.anomalous ? 1 : 0)).join("")}`);
      expect(worstScore).toBeGreaterThan(0);
      expect(worstScore).toBeLessThanOrEqual(FP16_STORAGE_SCORE_TOLERANCE);
      expect(stored.map((r) => r.anomalous)).toEqual(full.map((r) => r.anomalous));
      // Same ranking of the 12 parts, so the verdicts agree at any threshold, not only the card's.
      const rank = (rows: Array<{ score: number }>) => rows.map((r, i) => [r.score, i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
      expect(rank(stored)).toEqual(rank(full));

      // A backbone file that changed since training is refused by its sha256.
      await writeFile(join(runDir, 'backbone.json'), JSON.stringify({ ...backboneFile, sha256: '0'.repeat(64) }));
      const error = await exportRunFolder(runDir, { outFile: join(dir, 'again.onnx') }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConversionError);
      expect((error as Error).message).toMatch(/is not the backbone this run was trained on/);
    });
  });

  it('refuses grey training on an ONNX backbone', async () => {
    await withTempDir(async (dir) => {
      const source = createMemorySource({ images: [stripes(1), stripes(2)], preprocessing: onnxBackbonePreprocessing(spec, SIZE), validationFraction: 0.5, seed: 1, description: 'x' });
      await expect(trainDfr({ out: dir, dataSource: source, size: SIZE, channels: 1, backbone: spec, backend: 'cpu', log: () => undefined })).rejects.toThrow(/takes RGB input: use channels 3/);
    });
  });
});
