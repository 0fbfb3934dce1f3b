/**
 * fp16 storage of a spliced PatchCore file (`residuum export --fp16`): the memory bank and the weights
 * are stored as float16 and cast to float32 in the graph; the head computes the entry norms from the
 * stored entries, so norms and entries agree.
 * On the tiny stand-in (as patchcore.test.ts): runtime-node scores of 12 parts within the stated
 * tolerance of the float32 file, the same verdicts and the same ranking, and a smaller file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { preprocessImage } from '@residuum/scoring';
import { createMemorySource, onnxBackbonePreprocessing, trainPatchCore } from '@residuum/train';
import { beforeAll, describe, expect, it } from 'vitest';
import { FP16_STORAGE_SCORE_TOLERANCE } from '@residuum/onnx-converter';
import { decodeModelObject } from '../../../tools/onnx-converter/src/onnx-model.js';
import { exportRunFolder } from '../../../tools/onnx-converter/test/helpers/run-folder.js';
import { expectValidOnnx } from '../../../tools/onnx-converter/test/helpers/onnx-checker.js';
import { useCpuBackend } from '../../../tools/onnx-converter/test/helpers/tfjs-harness.js';
import { withTempDir } from './helpers/train-families.js';
import { type BlobDefect, scoreInRuntimeNode, STAND_IN_SIZE, standInBackbone, stripes } from './helpers/onnx-backbone.js';

const SIZE = STAND_IN_SIZE;
const spec = standInBackbone(['layer1', 'layer2', 'layer3']);
const DEFECT: BlobDefect = { top: 10, bottom: 18, left: 12, right: 20, value: 250 };

describe('PatchCore exported with fp16 storage', () => {
  beforeAll(useCpuBackend);

  it('stores the bank as float16 (norms from the stored entries) and scores within the stated tolerance, same verdicts and ranking', async () => {
    await withTempDir(async (dir) => {
      const runDir = join(dir, 'run');
      const preprocessing = onnxBackbonePreprocessing(spec, SIZE);
      const source = createMemorySource({ images: Array.from({ length: 12 }, (_, i) => stripes(300 + i)), preprocessing, validationFraction: 0.25, seed: 3, description: 'synthetic stripes' });
      await trainPatchCore({ out: runDir, dataSource: source, size: SIZE, backbone: spec, dim: 16, bankSize: 100, backend: 'cpu', seed: 5, log: () => undefined });
      await exportRunFolder(runDir, { outFile: join(dir, 'fp32.onnx') });
      const half = await exportRunFolder(runDir, { outFile: join(dir, 'fp16.onnx'), fp16: true, fp16MinElements: 64 });
      const full = new Uint8Array(await readFile(join(dir, 'fp32.onnx')));
      const stored = new Uint8Array(await readFile(join(dir, 'fp16.onnx')));
      expectValidOnnx(stored);
      expect(stored.byteLength).toBeLessThan(full.byteLength);
      const initializers = (decodeModelObject(stored).graph as { initializer: Array<{ name: string; dataType: number; dims: unknown[] }> }).initializer;
      const bank = initializers.filter((i) => /entries_t_x_minus2\/fp16$/.test(i.name));
      expect(bank.length).toBeGreaterThan(0);
      expect(bank.every((i) => i.dataType === 10)).toBe(true);
      // The entry norms are computed in the graph from the stored (rounded) entries: no norms initializer.
      expect(initializers.filter((i) => /entry_norms/.test(i.name))).toEqual([]);
      expect(half.report.fp16Storage?.converted).toBeGreaterThan(bank.length);

      const images = [...Array.from({ length: 6 }, (_, i) => stripes(910 + i)), ...Array.from({ length: 6 }, (_, i) => stripes(920 + i, DEFECT))];
      const tensors = images.map((image, i) => ({ source: `image-${i}`, input: { data: preprocessImage(image, preprocessing), channels: 3, height: SIZE, width: SIZE } }));
      const scoreWith = (model: Uint8Array) => scoreInRuntimeNode(model, tensors);
      const a = await scoreWith(full);
      const b = await scoreWith(stored);
      const worst = Math.max(...a.map((r, i) => Math.abs(b[i].score - r.score) / Math.abs(r.score)));
      console.log(`PatchCore fp16 storage vs fp32 (tiny stand-in, runtime-node): worst relative score difference ${worst.toExponential(2)}; verdicts ${a.map((r) => (r.anomalous ? 1 : 0)).join('')}`);
      expect(worst).toBeGreaterThan(0);
      expect(worst).toBeLessThanOrEqual(FP16_STORAGE_SCORE_TOLERANCE);
      expect(b.map((r) => r.anomalous)).toEqual(a.map((r) => r.anomalous));
      const rank = (rows: Array<{ score: number }>) => rows.map((r, i) => [r.score, i] as const).sort((x, y) => x[0] - y[0]).map(([, i]) => i);
      expect(rank(b)).toEqual(rank(a));
    });
  }, 120_000);
});
