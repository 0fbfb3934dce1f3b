import { describe, expect, it } from 'vitest';
import {
  ModelCardError,
  modelCardFromMetadata,
  modelCardToMetadata,
  parseModelCard,
  validateModelCard,
  type ModelCard,
} from '../src/index.js';

// Same card as packages/inspection/test/fixtures/make_tiny_ae.py writes into tiny-ae.onnx.
function tinyCard(): ModelCard {
  return {
    schemaVersion: 1,
    family: 'cae',
    name: 'tiny-ae-fixture',
    preprocessing: { width: 16, height: 16, channels: 1, resize: 'fill', interpolation: 'bilinear', mean: [0], std: [1] },
    input: { name: 'input', layout: 'NCHW', shape: ['N', 1, 16, 16] },
    outputs: [{ name: 'reconstruction', meaning: 'reconstruction', shape: ['N', 1, 16, 16] }],
    score: { map: { kind: 'squared', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean' } },
    threshold: { value: 0.05, method: 'manual', params: {}, fittedOn: { count: 0, normal: 0, anomalous: 0, source: 'manual (fixture)' } },
    calibration: { count: 10, min: 0.01, max: 0.06, mean: 0.03, std: 0.01, quantiles: { '0.5': 0.03, '0.99': 0.055 } },
    training: { dataFingerprint: '0'.repeat(64), dataDescription: 'none', imageCount: 0, epochs: 0, seed: 7, backend: 'none', loss: 'none' },
    createdAt: '2026-11-23T00:00:00.000Z',
    producer: { converter: 'make_tiny_ae.py' },
  };
}

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ModelCardError) return error.problems;
    throw error;
  }
  throw new Error('expected a ModelCardError');
}

describe('model card', () => {
  it('accepts a valid card and round-trips it through ONNX metadata', () => {
    const card = tinyCard();
    expect(validateModelCard(card)).toBe(card);
    const meta = modelCardToMetadata(card);
    expect(meta['residuum.schema_version']).toBe('1');
    expect(meta['residuum.family']).toBe('cae');
    expect(modelCardFromMetadata(meta)).toEqual(card);
    expect(parseModelCard(JSON.stringify(card))).toEqual(card);
  });

  it('lists every problem at once', () => {
    const bad = { ...tinyCard(), family: 'gan', preprocessing: { ...tinyCard().preprocessing, std: [0], mean: [0, 1] }, createdAt: 'yesterday' };
    const problems = problemsOf(() => validateModelCard(bad));
    expect(problems.some((p) => p.startsWith('family: must be one of'))).toBe(true);
    expect(problems.some((p) => p.startsWith('preprocessing.mean: must have one entry per channel'))).toBe(true);
    expect(problems.some((p) => p.startsWith('preprocessing.std: must not contain 0'))).toBe(true);
    expect(problems.some((p) => p.startsWith('createdAt'))).toBe(true);
    expect(problems.length).toBe(4);
  });

  it('accepts Caffe-style preprocessing (bgr, pixelDivisor 1) and rejects bad channel orders and divisors', () => {
    const rgbPre = { ...tinyCard().preprocessing, channels: 3 as const, mean: [103.939, 116.779, 123.68], std: [1, 1, 1] };
    const caffe = { ...tinyCard(), preprocessing: { ...rgbPre, channelOrder: 'bgr' as const, pixelDivisor: 1 as const }, input: { name: 'input', layout: 'NCHW' as const, shape: ['N', 3, 16, 16] as ['N', number, number, number] } };
    expect(validateModelCard(caffe)).toBe(caffe);
    expect(modelCardFromMetadata(modelCardToMetadata(caffe)).preprocessing).toEqual(caffe.preprocessing);
    const bad = { ...caffe, preprocessing: { ...caffe.preprocessing, channelOrder: 'brg', pixelDivisor: 256 } };
    expect(problemsOf(() => validateModelCard(bad))).toEqual([
      'preprocessing.channelOrder: must be one of "rgb", "bgr", got "brg"',
      'preprocessing.pixelDivisor: must be one of 1, 255, got 256',
    ]);
    const greyBgr = { ...tinyCard(), preprocessing: { ...tinyCard().preprocessing, channelOrder: 'bgr' } };
    expect(problemsOf(() => validateModelCard(greyBgr))).toEqual(["preprocessing.channelOrder: 'bgr' needs channels 3, got 1"]);
  });

  it('reports missing sections and shape disagreements', () => {
    const { threshold: _t, ...noThreshold } = tinyCard();
    expect(problemsOf(() => validateModelCard(noThreshold))).toEqual(['threshold: must be an object, got nothing (missing)']);
    const wrongShape = { ...tinyCard(), input: { name: 'input', layout: 'NCHW', shape: ['N', 3, 16, 16] } };
    expect(problemsOf(() => validateModelCard(wrongShape))[0]).toMatch(/input.shape: .* disagrees with preprocessing/);
    expect(problemsOf(() => validateModelCard('card'))).toEqual(['card: must be an object, got "card"']);
  });

  it('checks a position standardization: sizes agree, scales positive', () => {
    const withStats = (stats: unknown) => ({ ...tinyCard(), score: { ...tinyCard().score, map: { ...tinyCard().score.map, positionStandardization: stats } } });
    const good = { width: 2, height: 1, mean: [0.1, 0.2], scale: [1, 0.5], fittedOn: '2 normal images' };
    expect(validateModelCard(withStats(good)).score.map.positionStandardization).toEqual(good);
    const problems = problemsOf(() => validateModelCard(withStats({ ...good, mean: [0.1], scale: [1, 0] })));
    expect(problems).toEqual([
      'score.map.positionStandardization.mean: must hold width x height = 2 values, has 1',
      'score.map.positionStandardization.scale[1]: must be a finite number > 0, got 0',
    ]);
  });

  it("accepts an 'anomaly-map' output only where it can stand for score.map", () => {
    const card = tinyCard();
    const [, , height, width] = card.input.shape;
    const headed = (edit: (c: ReturnType<typeof tinyCard>) => void = () => undefined) => {
      const c = structuredClone(card);
      c.outputs.push({ name: 'anomaly_map', meaning: 'anomaly-map', shape: ['N', 1, height, width] });
      edit(c);
      return c;
    };
    expect(validateModelCard(headed()).outputs.map((o) => o.meaning)).toEqual([...card.outputs.map((o) => o.meaning), 'anomaly-map']);
    expect(problemsOf(() => validateModelCard(headed((c) => (c.outputs[c.outputs.length - 1].shape = ['N', 1, 4, 4]))))).toEqual([
      `outputs[${card.outputs.length}].shape: must be ['N', 1, ${height}, ${width}] (one map at the input size), got ["N",1,4,4]`,
    ]);
    expect(problemsOf(() => validateModelCard(headed((c) => (c.outputs = c.outputs.filter((o) => o.meaning !== 'reconstruction'))))).join('\n')).toMatch(/needs a 'reconstruction' output/);
    expect(problemsOf(() => validateModelCard(headed((c) => (c.score.map.kind = 'model-output')))).join('\n')).toMatch(/cannot stand for score.map.kind 'model-output'/);
  });

  it('explains newer and older schema versions', () => {
    expect(problemsOf(() => validateModelCard({ ...tinyCard(), schemaVersion: 2 }))[0]).toMatch(/newer than this Residuum supports \(1\): upgrade/);
    expect(problemsOf(() => validateModelCard({ ...tinyCard(), schemaVersion: 0 }))[0]).toMatch(/older than this Residuum supports/);
    const meta = { ...modelCardToMetadata(tinyCard()), 'residuum.schema_version': '3' };
    expect(() => modelCardFromMetadata(meta)).toThrow(/unsupported Residuum model[\s\S]*newer/);
  });

  it('says "not a Residuum model" without residuum.* keys, and catches bad JSON and family mismatch', () => {
    expect(() => modelCardFromMetadata({ author: 'x' })).toThrow(/not a Residuum model[\s\S]*found: author/);
    expect(() => modelCardFromMetadata({ 'residuum.card': '{oops' })).toThrow(/not valid JSON/);
    expect(() => modelCardFromMetadata({ 'residuum.family': 'cae' })).toThrow(/"residuum.card" is missing/);
    const meta = { ...modelCardToMetadata(tinyCard()), 'residuum.family': 'vae' };
    expect(() => modelCardFromMetadata(meta)).toThrow(/"vae" but the card says "cae"/);
  });
});

describe('model card threshold range', () => {
  it('refuses a threshold the score cannot take (negative residual, 1 - SSIM above 2), NaN and infinity', () => {
    const negative = tinyCard();
    negative.threshold.value = -0.01;
    expect(problemsOf(() => validateModelCard(negative))).toEqual([
      'threshold.value: -0.01 is outside the range the image score can take ([0, Infinity]: a squared map is >= 0); every part would be flagged',
    ]);
    const ssim = tinyCard();
    ssim.score.map = { kind: 'ssim', channelReduction: 'mean', smoothingSigma: 0, ssimWindowSize: 11, ssimSigma: 1.5 };
    ssim.threshold.value = 2.5;
    expect(problemsOf(() => validateModelCard(ssim))[0]).toMatch(/threshold.value: 2.5 is outside .*\[0, 2\].*no part would ever be flagged/);
    for (const value of [NaN, Infinity, -Infinity]) {
      const card = tinyCard();
      card.threshold.value = value;
      expect(problemsOf(() => validateModelCard(card))).toEqual([`threshold.value: must be a finite number, got ${value}`]);
    }
    const pixel = tinyCard();
    pixel.calibration.pixelThreshold = -1;
    expect(problemsOf(() => validateModelCard(pixel))[0]).toMatch(/calibration.pixelThreshold: -1 is outside the range the pixel score/);
  });

  it('accepts a negative threshold where the score can be negative (per-position z-scores, negative kappa)', () => {
    const standardized = tinyCard();
    standardized.score.map.positionStandardization = { width: 1, height: 1, mean: [0], scale: [1], fittedOn: 'fixture' };
    standardized.threshold.value = -0.5;
    expect(() => validateModelCard(standardized)).not.toThrow();
    const kappa = tinyCard();
    kappa.score.image.kappa = -1;
    kappa.threshold.value = -3;
    expect(() => validateModelCard(kappa)).not.toThrow();
    const boundary = tinyCard();
    boundary.threshold.value = 0;
    expect(() => validateModelCard(boundary)).not.toThrow();
  });
});
