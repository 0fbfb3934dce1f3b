import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModelCard } from '@residuum/inspection';
import type { CalibrationRecord } from '@residuum/scoring';
import { cardWithSessionThreshold, modelWithSessionThreshold, savedModelName, sessionFingerprints } from '../src/save-model.js';

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

  it('writes the slider threshold and what it does on the labelled images into the card; the graph is unchanged', async () => {
    const out = await modelWithSessionThreshold(bytes, card, 0.04, session, 'test');
    const saved = loadModelCard(out);
    expect(saved.threshold).toMatchObject({ value: 0.04, method: 'manual' });
    const record = (saved.extras as { calibration: CalibrationRecord }).calibration;
    expect(record.previousThreshold).toEqual(card.threshold);
    expect(record.expected?.falseAlarmRate).toMatchObject({ successes: 1, trials: 3, method: 'clopper-pearson' });
    expect(record.expected?.recall).toMatchObject({ successes: 1, trials: 2 });
    expect(record.sets.map((s) => [s.role, s.count])).toEqual([['good', 3], ['defective', 2]]);
    expect(out.length - bytes.length).toBeGreaterThan(0);
  });

  it('without labelled good images it says the false-alarm rate is not known; a threshold outside the score range is refused', async () => {
    const saved = cardWithSessionThreshold(card, 0.04, [{ score: 0.2 }], 'test');
    const record = (saved.extras as { calibration: CalibrationRecord }).calibration;
    expect(record.expected).toBeUndefined();
    expect(record.warnings[0]).toMatch(/false-alarm rate of this threshold is not known/);
    await expect(modelWithSessionThreshold(bytes, card, -1, session, 'test')).rejects.toThrow(/outside the range/);
  });

  it('fingerprints each labelled set like residuum calibrate: paths relative to the set folder, size and content sha256', async () => {
    const file = (path: string, text: string) => ({ path, bytes: new TextEncoder().encode(text) });
    const labelled = [
      { score: 0.01, truth: 'good' as const, file: file('lot7/ok/b.png', 'good b') },
      { score: 0.02, truth: 'good' as const, file: file('lot7/ok/sub/a.png', 'good a') },
      { score: 0.09, truth: 'defective' as const, file: file('lot7/crack/c.png', 'crack c') },
      { score: 0.5 },
    ];
    // Independent reference: node:crypto over the sorted lines "relPath \t size \t sha256".
    const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
    const reference = (entries: Array<[string, Uint8Array]>) =>
      sha(entries.sort(([a], [b]) => (a < b ? -1 : 1)).map(([rel, bytes]) => `${rel}\t${bytes.length}\t${sha(bytes)}\n`).join(''));
    const prints = await sessionFingerprints(labelled);
    expect(prints.good).toEqual({ folder: 'lot7/ok', fingerprint: reference([['b.png', labelled[0].file!.bytes], ['sub/a.png', labelled[1].file!.bytes]]) });
    expect(prints.defective?.fingerprint).toBe(reference([['c.png', labelled[2].file!.bytes]]));
    const saved = loadModelCard(await modelWithSessionThreshold(bytes, card, 0.04, labelled, 'test'));
    const record = (saved.extras as { calibration: CalibrationRecord }).calibration;
    expect(record.sets.map((s) => [s.role, s.count, s.fingerprint])).toEqual([
      ['good', 2, prints.good!.fingerprint],
      ['defective', 1, prints.defective!.fingerprint],
    ]);
    expect(record.sets[0].description).toMatch(/under ok\/ .*sha256/);
    // A set with an image whose bytes are unknown is recorded by count only, never with a partial fingerprint.
    expect((await sessionFingerprints([...labelled, { score: 0.3, truth: 'good' }])).good).toBeUndefined();
  });

  it('names the file after the model and the threshold', () => {
    expect(savedModelName('models/default.onnx', 5.6697)).toBe('default-threshold-5.670.onnx');
  });
});
