/**
 * The latent cap of DFR on an ONNX backbone: the exported file (backbone + head) must stay within the
 * file budget, so PCA's width is capped, and the card and the log say so. Training runs on the tiny
 * committed ONNX backbone (56 feature channels at 32 px) with a budget that leaves room for 3 latent dims.
 */
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawImage } from '@residuum/scoring';
import { beforeAll, describe, expect, it } from 'vitest';
import { createMemorySource } from '../../src/training/data.js';
import {
  autoencoderParameterCount,
  buildVectorAutoencoder,
  DFR_SPLICED_FILE_BUDGET_BYTES,
  dfrHeadBytes,
  FEATURE_FILE_LIMIT_BYTES,
  latentCapForBudget,
  onnxBackbonePreprocessing,
  RESNET50_DFR_TAPS,
  trainDfr,
  varianceKept,
  type OnnxBackboneSpec,
} from '../../src/families/dfr/index.js';
import { createRandom } from '../../src/random.js';
import { useCpuBackend, withTempDir } from '../helpers.js';
import { testBackbone } from './helpers.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/onnx-backbone');
const CAFFE = { channels: 3 as const, resize: 'fill' as const, interpolation: 'bilinear' as const, channelOrder: 'bgr' as const, pixelDivisor: 1 as const, mean: [103.939, 116.779, 123.68], std: [1, 1, 1] };
const spec: OnnxBackboneSpec = { onnxPath: join(FIXTURE, 'backbone.onnx'), taps: [...RESNET50_DFR_TAPS], preprocessing: CAFFE, name: 'tiny' };
const SIZE = 32;
const TINY_CHANNELS = 8 + 16 + 32;

function texture(seed: number): RawImage {
  const random = createRandom(seed);
  const data = new Uint8Array(SIZE * SIZE * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.round(random.uniform(0, 255));
  return { data, width: SIZE, height: SIZE, channels: 3 };
}

beforeAll(async () => {
  await useCpuBackend();
});

describe('DFR head bytes and the latent cap', () => {
  it('counts the autoencoder weights exactly as TF.js builds them', () => {
    for (const [channels, latent] of [[56, 3], [56, 20], [912, 150]]) {
      const model = buildVectorAutoencoder(channels, latent, 1);
      expect(autoencoderParameterCount(channels, latent)).toBe(model.countParams());
      model.dispose();
    }
  });

  it('caps ResNet-50 layer1-layer3 (1792 channels, 34.1 MB backbone) so that the file stays within 7/8 of 64 MB', () => {
    expect(DFR_SPLICED_FILE_BUDGET_BYTES).toBe(FEATURE_FILE_LIMIT_BYTES * 7 / 8);
    // The head i15d measured on magnetic_tile (PCA's 476 dims): 33.9 MB.
    expect(dfrHeadBytes(1792, 476) / 1e6).toBeCloseTo(33.9, 0);
    const backboneBytes = 34_127_281;
    const cap = latentCapForBudget(1792, backboneBytes, DFR_SPLICED_FILE_BUDGET_BYTES);
    expect(cap.width).toBe(244);
    expect(backboneBytes + cap.headBytes).toBeLessThanOrEqual(DFR_SPLICED_FILE_BUDGET_BYTES);
    expect(backboneBytes + dfrHeadBytes(1792, cap.width + 1)).toBeGreaterThan(DFR_SPLICED_FILE_BUDGET_BYTES);
    // A budget larger than any head: the cap is the feature width itself.
    expect(latentCapForBudget(56, 1000, 1e9).width).toBe(56);
    expect(() => latentCapForBudget(1792, 60e6, 56e6, 'the backbone big')).toThrow(/56\.0 MB leaves no room for a DFR head behind the backbone big \(60\.0 MB\): even a latent width of 1 needs/);
  });

  it('reports the variance a width keeps', () => {
    expect(varianceKept([4, 3, 2, 1], 2)).toBeCloseTo(0.7, 12);
    expect(varianceKept([4, 3, 2, -1e-12], 4)).toBe(1);
  });
});

describe('trainDfr on an ONNX backbone with a file budget', () => {
  it('caps the PCA width, and the card and the log say so and how much variance is kept', async () => {
    const backboneBytes = (await stat(spec.onnxPath)).size;
    const maxFileBytes = backboneBytes + dfrHeadBytes(TINY_CHANNELS, 3);
    await withTempDir(async (dir) => {
      const logs: string[] = [];
      const source = createMemorySource({
        images: Array.from({ length: 8 }, (_, i) => texture(10 + i)),
        preprocessing: onnxBackbonePreprocessing(spec, SIZE),
        validationFraction: 0.25,
        seed: 3,
        description: 'seeded noise',
      });
      const result = await trainDfr({ out: join(dir, 'run'), dataSource: source, size: SIZE, channels: 3, backbone: spec, cell: 2, epochs: 1, batch: 64, backend: 'cpu', seed: 5, maxFileBytes, positionStandardizationImages: 0, log: (l) => logs.push(l) });

      expect(result.pca?.wantedWidth).toBeGreaterThan(3);
      expect(result.latentWidth).toBe(3);
      expect(result.latentCap).toEqual({ width: 3, budgetBytes: maxFileBytes, backboneBytes, headBytes: dfrHeadBytes(TINY_CHANNELS, 3), capped: true });
      expect(result.pca?.varianceKept).toBeGreaterThan(0);
      expect(result.pca?.varianceKept).toBeLessThan(0.9);

      const extras = result.card?.extras?.dfr as Record<string, unknown>;
      expect(extras.latentWidth).toBe(3);
      expect(extras.latentCap).toMatchObject({ width: 3, capped: true, pcaWidth: result.pca?.wantedWidth, varianceKept: result.pca?.varianceKept });
      const kept = (result.pca?.varianceKept ?? NaN).toFixed(3);
      expect(String(extras.latentChoice)).toContain(`wanted ${result.pca?.wantedWidth}; capped at 3 by the`);
      expect(String(extras.latentChoice)).toContain(`keeping ${kept} of the variance`);
      expect(logs.some((l) => l.startsWith('latent width 3 (') && l.includes('capped at 3') && l.includes(`keeping ${kept}`))).toBe(true);
    });
  });

  it('rejects a given latent over the cap or wider than the features, and a budget on a TF.js backbone', async () => {
    const backboneBytes = (await stat(spec.onnxPath)).size;
    const source = () => createMemorySource({ images: Array.from({ length: 4 }, (_, i) => texture(i)), preprocessing: onnxBackbonePreprocessing(spec, SIZE), validationFraction: 0.25, seed: 3, description: 'seeded noise' });
    const common = { size: SIZE, channels: 3 as const, backbone: spec, cell: 2, epochs: 1, backend: 'cpu' as const };
    await withTempDir(async (dir) => {
      await expect(trainDfr({ ...common, out: join(dir, 'a'), dataSource: source(), latent: 4, maxFileBytes: backboneBytes + dfrHeadBytes(TINY_CHANNELS, 3) })).rejects.toThrow(
        /latent 4 does not fit the file budget: .* leaves room for a latent of at most 3/,
      );
      await expect(trainDfr({ ...common, out: join(dir, 'b'), dataSource: source(), latent: 57 })).rejects.toThrow(/latent must be at most the 56 feature channels/);
      await expect(trainDfr({ ...common, out: join(dir, 'c'), dataSource: source(), maxFileBytes: backboneBytes })).rejects.toThrow(/leaves no room for a DFR head behind the backbone tiny .*; raise maxFileBytes/);
      await expect(trainDfr({ ...common, out: join(dir, 'd'), dataSource: source(), maxFileBytes: 0.5 })).rejects.toThrow(/maxFileBytes must be a positive integer/);
    });
    await expect(trainDfr({ out: '/tmp/x', data: '/tmp', backbone: testBackbone(), maxFileBytes: 1e6 })).rejects.toThrow(/maxFileBytes applies to an ONNX backbone only/);
  });
});
