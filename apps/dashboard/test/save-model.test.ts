import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModelCard } from '@residuum/inspection';
import type { CalibrationRecord } from '@residuum/scoring';
import { cardWithSessionThreshold, modelWithSessionThreshold, savedModelName } from '../src/save-model.js';

const TINY_AE = new URL('../../../packages/inspection/test/fixtures/tiny-ae.onnx', import.meta.url);

describe('save model with this threshold', () => {
  const bytes = new Uint8Array(readFileSync(TINY_AE));
  const card = loadModelCard(bytes);
  const session = [
    { score: 0.01, truth: 'good' as const },
    { score: 0.02, truth: 'good' as const },
    { score: 0.06, truth: 'good' as const },
    { score: 0.07, truth: 'defective' as const },
    { score: 0.03, truth: 'defective' as const },
    { score: 0.5 },
  ];

  it('writes the slider threshold and what it does on the labelled images into the card; the graph is unchanged', () => {
    const out = modelWithSessionThreshold(bytes, card, 0.04, session, 'test');
    const saved = loadModelCard(out);
    expect(saved.threshold).toMatchObject({ value: 0.04, method: 'manual' });
    const record = (saved.extras as { calibration: CalibrationRecord }).calibration;
    expect(record.previousThreshold).toEqual(card.threshold);
    expect(record.expected?.falseAlarmRate).toMatchObject({ successes: 1, trials: 3, method: 'clopper-pearson' });
    expect(record.expected?.recall).toMatchObject({ successes: 1, trials: 2 });
    expect(record.sets.map((s) => [s.role, s.count])).toEqual([['good', 3], ['defective', 2]]);
    expect(out.length - bytes.length).toBeGreaterThan(0);
  });

  it('without labelled good images it says the false-alarm rate is not known; a threshold outside the score range is refused', () => {
    const saved = cardWithSessionThreshold(card, 0.04, [{ score: 0.2 }], 'test');
    const record = (saved.extras as { calibration: CalibrationRecord }).calibration;
    expect(record.expected).toBeUndefined();
    expect(record.warnings[0]).toMatch(/false-alarm rate of this threshold is not known/);
    expect(() => modelWithSessionThreshold(bytes, card, -1, session, 'test')).toThrow(/outside the range/);
  });

  it('names the file after the model and the threshold', () => {
    expect(savedModelName('models/default.onnx', 5.6697)).toBe('default-threshold-5.670.onnx');
  });
});
