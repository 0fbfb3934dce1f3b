import { describe, expect, it } from 'vitest';
import {
  createPassMasks,
  gaussianSmooth,
  resizeMap,
  createSeededRandom,
  DEFAULT_MC_DROPOUT_SEED,
  makeDropoutMasks,
  mcDropoutSeed,
  mcPassCount,
  scoreImage,
  scoreImageOutputs,
  validateModelCard,
  ModelCardError,
  type ModelCard,
} from '../src/index.js';

function mcCard(seed?: number): ModelCard {
  return {
    schemaVersion: 1,
    family: 'aesc',
    name: 'tiny-mc',
    preprocessing: { width: 4, height: 4, channels: 1, resize: 'fill', interpolation: 'bilinear', mean: [0], std: [1] },
    input: { name: 'input', layout: 'NCHW', shape: ['N', 1, 4, 4] },
    outputs: [{ name: 'reconstruction', meaning: 'reconstruction', shape: ['N', 1, 4, 4] }],
    score: { map: { kind: 'squared', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean' } },
    threshold: { value: 0.05, method: 'manual', params: {}, fittedOn: { count: 0, normal: 0, anomalous: 0, source: 'test' } },
    calibration: { count: 10, min: 0.01, max: 0.06, mean: 0.03, std: 0.01, quantiles: {} },
    mcDropout: { samples: 4, maskInputs: [{ name: 'mc_mask_0', shape: ['N', 2, 2, 2], rate: 0.5 }], ...(seed !== undefined ? { seed } : {}) },
    training: { dataFingerprint: '0'.repeat(64), dataDescription: 'none', imageCount: 0, epochs: 0, seed: 7, backend: 'none', loss: 'none' },
    createdAt: '2026-12-05T00:00:00.000Z',
    producer: {},
  };
}

describe('MC-Dropout pass masks', () => {
  it('reads the seed from the card, and the historical default from cards without one', () => {
    expect(mcDropoutSeed(mcCard(42))).toBe(42);
    expect(mcDropoutSeed(mcCard())).toBe(DEFAULT_MC_DROPOUT_SEED);
    expect(DEFAULT_MC_DROPOUT_SEED).toBe(20261123);
  });

  it('gives pass p the p-th draw of the seeded stream, the same for every image', () => {
    const card = mcCard(42);
    const masks = createPassMasks(card, 4);
    const stream = createSeededRandom(42);
    for (let pass = 0; pass < 4; pass++) {
      const expected = makeDropoutMasks(card, 1, stream).mc_mask_0;
      expect(masks(pass).mc_mask_0.data).toEqual(expected.data);
      expect(masks(pass).mc_mask_0.dims).toEqual([1, 2, 2, 2]);
    }
    // Asked out of order or again: the same masks.
    expect(createPassMasks(card, 4)(3).mc_mask_0.data).toEqual(masks(3).mc_mask_0.data);
    expect(createPassMasks(mcCard(43), 4)(0).mc_mask_0.data).not.toEqual(masks(0).mc_mask_0.data);
    expect(createPassMasks(mcCard(43), 4, 42)(0).mc_mask_0.data).toEqual(masks(0).mc_mask_0.data);
    expect(() => masks(4)).toThrow(/pass must be an integer in \[0, 4\)/);
  });

  it('makes a single pass the deterministic one (all 1.0)', () => {
    expect(Array.from(createPassMasks(mcCard(42), 1)(0).mc_mask_0.data)).toEqual(new Array(8).fill(1));
    expect(mcPassCount(mcCard())).toBe(4);
    expect(mcPassCount(mcCard(), 1)).toBe(1);
    expect(() => mcPassCount(mcCard(), 0)).toThrow(/mcSamples must be a positive integer/);
  });

  it('validates the seed in the card', () => {
    expect(validateModelCard(mcCard(7)).mcDropout?.seed).toBe(7);
    expect(validateModelCard(mcCard()).mcDropout?.seed).toBeUndefined();
    expect(() => validateModelCard(mcCard(1.5))).toThrow(ModelCardError);
    expect(() => validateModelCard(mcCard(-1))).toThrow(/mcDropout.seed/);
  });
});

describe('scoreImageOutputs', () => {
  it('is the score scoreImage judges, from the mean reconstruction of the passes', () => {
    const card = mcCard();
    const input = { data: Float32Array.from({ length: 16 }, (_, i) => i / 16), channels: 1, height: 4, width: 4 };
    const a = Float32Array.from({ length: 16 }, () => 0.5);
    const b = Float32Array.from({ length: 16 }, () => 0.25);
    const passes = [{ reconstruction: { data: a, dims: [1, 4, 4] } }, { reconstruction: { data: b, dims: [1, 4, 4] } }];
    const outputs = scoreImageOutputs(card, input, passes);
    let expected = 0;
    for (let i = 0; i < 16; i++) expected += (input.data[i] - 0.375) ** 2 / 16;
    expect(outputs.score).toBeCloseTo(expected, 6);
    expect(Array.from(outputs.uncertainty!)).toEqual(new Array(16).fill(0.125 ** 2));
    const judged = scoreImage(card, input, passes, { threshold: outputs.score });
    expect(judged.score).toBe(outputs.score);
    expect(judged.isAnomalous).toBe(true);
    expect(scoreImage(card, input, passes, { threshold: outputs.score * 1.0001 }).isAnomalous).toBe(false);
  });
});

describe("a model's own map smoothed at the input size (score.map.smoothingAt 'input', PatchCore)", () => {
  const grid = Float32Array.from([0, 0, 0, 0, 4, 0, 0, 0, 0]);
  const card = (smoothingAt?: 'map' | 'input'): Pick<ModelCard, 'outputs' | 'score'> => ({
    outputs: [{ name: 'patch_distance', meaning: 'feature-error-map', shape: ['N', 1, 3, 3] }],
    score: { map: { kind: 'model-output', channelReduction: 'mean', smoothingSigma: 2, ...(smoothingAt ? { smoothingAt } : {}) }, image: { kind: 'max' } },
  });
  const input = { data: new Float32Array(0), channels: 3, height: 12, width: 12 };
  const passes = [{ patch_distance: { data: grid, dims: [1, 3, 3] } }];

  it('upsamples first, then smooths in input pixels (equal to smoothing the upsampled map)', () => {
    const atInput = scoreImageOutputs(card('input'), input, passes);
    const expected = gaussianSmooth(resizeMap(grid, 12, 12, 3, 3), 12, 12, 2);
    expect(Array.from(atInput.map)).toEqual(Array.from(expected));
    expect(atInput.score).toBe(Math.max(...expected));
    // The default ('map'): sigma in map cells before upsampling: a different, much flatter map.
    const atMap = scoreImageOutputs(card(), input, passes);
    expect(atMap.score).toBeLessThan(atInput.score);
    expect(scoreImageOutputs(card('map'), input, passes).map).toEqual(atMap.map);
  });

  it('the validator accepts map / input, and input only for model-output maps', () => {
    const base = mcCard();
    delete base.mcDropout;
    const problems = (edit: (c: ModelCard) => void): string => {
      const c = structuredClone(base);
      edit(c);
      try {
        validateModelCard(c);
        return '';
      } catch (error) {
        return (error as ModelCardError).problems.join('\n');
      }
    };
    expect(problems((c) => (c.score.map.smoothingAt = 'map'))).toBe('');
    expect(problems((c) => (c.score.map.smoothingAt = 'input'))).toMatch(/score.map.smoothingAt: 'input' applies to score.map.kind 'model-output' only/);
    expect(problems((c) => ((c.score.map as { smoothingAt: unknown }).smoothingAt = 'pixels'))).toMatch(/score.map.smoothingAt: must be one of "map", "input"/);
    expect(problems((c) => (c.family = 'patchcore'))).toBe('');
  });
});
