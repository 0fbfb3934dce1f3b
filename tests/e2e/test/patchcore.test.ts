/**
 * PatchCore end to end on the tiny stand-in backbone (@residuum/train's committed fixture: a 32 px
 * TF.js backbone cut and converted to ONNX, taps layer1-layer3 at strides 2/4/8, ResNet-50's Caffe
 * preprocessing): the backbone runs in onnxruntime-node during training, the run folder holds the
 * TF.js head (taps in -> patch features -> NearestNeighbourDistance with the bank as a weight) and
 * backbone.json, and the export splices both into ONE checked file with the card. Its distance map
 * equals the trainer's within 1e-4, and runtime-node scores a defect higher than good parts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createNodeInspector } from '@residuum/runtime-node';
import { preprocessImage, validateModelCard } from '@residuum/scoring';
import { createMemorySource, loadModelFromDir, OnnxTapExtractor, onnxBackbonePreprocessing, trainPatchCore, type OnnxBackboneSpec } from '@residuum/train';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportRunFolder } from '../../../tools/onnx-converter/test/helpers/run-folder.js';
import { expectValidOnnx } from '../../../tools/onnx-converter/test/helpers/onnx-checker.js';
import { runOrtNode } from '../../../tools/onnx-converter/test/helpers/runtimes.js';
import { tf, useCpuBackend } from '../../../tools/onnx-converter/test/helpers/tfjs-harness.js';
import { withTempDir } from './helpers/train-families.js';
import { type BlobDefect, chwToNhwc, STAND_IN_SIZE, standInBackbone, stripes } from './helpers/onnx-backbone.js';

const SIZE = STAND_IN_SIZE;
const spec = standInBackbone(['layer1', 'layer2', 'layer3']);
/** A bright blob, which the stripes never reach. */
const DEFECT: BlobDefect = { top: 10, bottom: 18, left: 12, right: 20, value: 250 };

describe('PatchCore on an ONNX backbone: train -> run folder (head + bank + backbone.json) -> one spliced ONNX file', () => {
  beforeAll(useCpuBackend);

  it('keeps a coreset bank, splices one checked file that maps like the trainer, and scores a defect higher', async () => {
    await withTempDir(async (dir) => {
      const runDir = join(dir, 'run');
      const preprocessing = onnxBackbonePreprocessing(spec, SIZE);
      const source = createMemorySource({ images: Array.from({ length: 12 }, (_, i) => stripes(300 + i)), preprocessing, validationFraction: 0.25, seed: 3, description: 'synthetic stripes' });
      const log: string[] = [];
      // 9 training images x 64 patches = 576 patches; the bank keeps 100 of them.
      const result = await trainPatchCore({ out: runDir, dataSource: source, size: SIZE, backbone: spec, dim: 16, bankSize: 100, backend: 'cpu', seed: 5, log: (l) => log.push(l) });
      expect(log.join('\n')).toContain('PatchCore: tiny-onnx-backbone (ONNX, onnxruntime-node), taps layer2, layer3 (16 + 32 channels), local average 3x3 -> 8x8 patches, 48 -> 16 (random-projection)');
      expect(result.patchcore).toMatchObject({ patches: 576, patchesPerImage: 64, bankSize: 100 });
      const card = validateModelCard(JSON.parse(await readFile(join(runDir, 'model-card.json'), 'utf8')));
      expect(card.family).toBe('patchcore');
      expect(card.description).toMatch(/Not a reconstruction model/);
      expect(card.extras?.patchcore).toMatchObject({ reconstructionModel: false, dim: 16, bankSize: 100, layers: ['layer2', 'layer3'], localWindow: 3, localPooling: '3x3 average per tap, stride 1, same padding (padding cells not counted)' });
      expect(card.score).toEqual({ map: { kind: 'model-output', channelReduction: 'mean', smoothingSigma: 8, smoothingAt: 'input' }, image: { kind: 'mean' } });
      expect(card.outputs).toEqual([expect.objectContaining({ name: 'patch_distance', meaning: 'feature-error-map', shape: ['N', 1, 8, 8] })]);
      const backboneFile = JSON.parse(await readFile(join(runDir, 'backbone.json'), 'utf8')) as { taps: string[] };
      expect(backboneFile.taps).toEqual(['layer2', 'layer3']);

      const converted = await exportRunFolder(runDir, { outFile: join(dir, 'patchcore.onnx') });
      expect(converted.report.outputs).toEqual([{ name: 'patch_distance', shape: ['N', 1, 8, 8] }]);
      expect(converted.report.inputNames).toEqual(['input']);
      const bytes = new Uint8Array(await readFile(join(dir, 'patchcore.onnx')));
      expectValidOnnx(bytes);

      // The trainer's maps: taps from onnxruntime, then the saved TF.js head (loaded from the run folder).
      const head = await loadModelFromDir(runDir);
      const extractor = await OnnxTapExtractor.open({ ...spec, taps: ['layer2', 'layer3'] }, SIZE, { threads: 1 });
      const plane = SIZE * SIZE;
      const images = [stripes(900), stripes(901, DEFECT), stripes(300)];
      const chw = images.map((image) => preprocessImage(image, preprocessing));
      const nhwc = new Float32Array(images.length * 3 * plane);
      chw.forEach((c, i) => nhwc.set(chwToNhwc(c, 3, plane), i * 3 * plane));
      const taps = await extractor.extract(nhwc, images.length);
      const output = head.predict(taps) as tf.Tensor;
      const expected = (await output.data()) as Float32Array;
      tf.dispose([output, ...taps]);
      const nchw = new Float32Array(images.length * 3 * plane);
      chw.forEach((c, i) => nchw.set(c, i * 3 * plane));
      const actual = (await runOrtNode(bytes, { input: { data: nchw, dims: [images.length, 3, SIZE, SIZE] } })).patch_distance.data;
      // Images not in the bank: within 1e-4 relative. A training image's own patches lie at distance
      // ~0, where both sides keep only the expansion's rounding, sqrt(ulp(||f||^2)): bounded absolutely.
      const worst = [0, 0, 0];
      actual.forEach((v, i) => {
        const image = Math.floor(i / 64);
        worst[image] = Math.max(worst[image], Math.abs(v - expected[i]) / (image < 2 ? Math.max(1e-6, Math.abs(expected[i])) : 1));
      });
      expect(Math.max(worst[0], worst[1])).toBeLessThan(1e-4);
      expect(worst[2]).toBeLessThan(1e-3 * Math.max(...expected));
      // A training image's patches that made it into the bank are at distance ~0.
      expect(Math.min(...expected.subarray(128, 192))).toBeLessThan(1e-2 * Math.max(...expected));

      const inspector = await createNodeInspector(bytes, { provider: 'cpu', batchSize: 2 });
      const results = await inspector.inspectTensors(chw.slice(0, 2).map((data, i) => ({ source: `image-${i}`, input: { data, channels: 3, height: SIZE, width: SIZE } })));
      await inspector.dispose();
      const scores = results.map((r, i) => {
        if (!r.ok) throw new Error(`runtime-node failed on image ${i}: ${JSON.stringify(r)}`);
        return r.score;
      });
      expect(scores[1]).toBeGreaterThan(scores[0]);
      expect(scores[1]).toBeGreaterThan(card.threshold.value);
      await extractor.dispose();
      head.dispose();
    });
  }, 120_000);

  it('a stop during the coreset keeps the picks so far as a smaller bank, in a card marked interrupted', async () => {
    await withTempDir(async (dir) => {
      const runDir = join(dir, 'run');
      const source = createMemorySource({ images: Array.from({ length: 12 }, (_, i) => stripes(300 + i)), preprocessing: onnxBackbonePreprocessing(spec, SIZE), validationFraction: 0.25, seed: 3, description: 'synthetic stripes' });
      const controller = new AbortController();
      const log = (line: string): void => {
        if (line.includes('greedy coreset of')) controller.abort();
      };
      const result = await trainPatchCore({ out: runDir, dataSource: source, size: SIZE, backbone: spec, dim: 16, bankSize: 300, backend: 'cpu', seed: 5, log, signal: controller.signal, handleSigint: false });
      expect(result).toMatchObject({ completed: false, interrupted: true });
      expect(result.patchcore.bankSize).toBe(64);
      expect(result.patchcore.coreset?.note).toBe('selection stopped after 64 of 300 picks');
      const card = validateModelCard(JSON.parse(await readFile(join(runDir, 'model-card.json'), 'utf8')));
      expect(card.training.interrupted).toMatch(/stop requested/);
      expect(card.extras?.patchcore).toMatchObject({ bankSize: 64, bankLimit: 300 });
    });
  });

  it('refuses a missing backbone, an unknown reduction, a backbone without the asked layers and a bad local window', async () => {
    await withTempDir(async (dir) => {
      const source = createMemorySource({ images: [stripes(1), stripes(2)], preprocessing: onnxBackbonePreprocessing(spec, SIZE), validationFraction: 0.5, seed: 1, description: 'x' });
      const base = { out: dir, dataSource: source, size: SIZE, backend: 'cpu' as const, log: () => undefined };
      await expect(trainPatchCore({ ...base, backbone: undefined as unknown as OnnxBackboneSpec })).rejects.toThrow(/an ONNX backbone is required/);
      await expect(trainPatchCore({ ...base, backbone: spec, reduction: 'pca' as never })).rejects.toThrow(/reduction must be one of random-projection, adaptive-average, got pca/);
      await expect(trainPatchCore({ ...base, backbone: spec, layers: ['layer2', 'layer4'] })).rejects.toThrow(/has no output layer4/);
      await expect(trainPatchCore({ ...base, backbone: spec, localWindow: 4 })).rejects.toThrow('trainPatchCore: localWindow must be odd (a window centred on its patch: 1, 3, 5, ...), got 4');
      await expect(trainPatchCore({ ...base, backbone: spec, localWindow: 0 })).rejects.toThrow('trainPatchCore: localWindow must be at least 1 (1 = no averaging), got 0');
      await expect(trainPatchCore({ ...base, backbone: spec, localWindow: 3.5 })).rejects.toThrow('trainPatchCore: localWindow must be a whole number, got 3.5');
      // layer3 of the stand-in is 4x4 at 32 px: a 5x5 window would average over more than the whole grid.
      await expect(trainPatchCore({ ...base, backbone: spec, localWindow: 5 })).rejects.toThrow('trainPatchCore: local window 5 is larger than the 4x4 grid of tap layer3: choose at most 3, or a larger input size');
    });
  });
});
