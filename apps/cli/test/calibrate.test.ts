import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelCard } from '@residuum/inspection';
import { createNodeInspector } from '@residuum/runtime-node';
import { isAnomalous, type CalibrationRecord } from '@residuum/scoring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_AE, encodeGreyPng, makeTempDir, residuum, syntheticPart } from './helpers.js';

const sha = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');
const exists = (path: string) => stat(path).then(() => true, () => false);

describe('residuum calibrate', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  let model: string;

  beforeAll(async () => {
    tmp = await makeTempDir('calibrate');
    for (const dir of ['good', 'bad', 'empty', 'test', 'broken']) await mkdir(join(tmp.dir, dir), { recursive: true });
    for (let k = 0; k < 40; k += 1) await writeFile(join(tmp.dir, 'good', `g${k}.png`), encodeGreyPng(syntheticPart(1000 + k, false), 16, 16));
    for (let k = 0; k < 20; k += 1) await writeFile(join(tmp.dir, 'bad', `b${k}.png`), encodeGreyPng(syntheticPart(2000 + k, true), 16, 16));
    for (let k = 0; k < 3; k += 1) await writeFile(join(tmp.dir, 'test', `t${k}.png`), encodeGreyPng(syntheticPart(3000 + k, false), 16, 16));
    await copyFile(join(tmp.dir, 'good', 'g0.png'), join(tmp.dir, 'broken', 'ok.png'));
    await writeFile(join(tmp.dir, 'broken', 'cut.png'), (await readFile(join(tmp.dir, 'good', 'g1.png'))).subarray(0, 40));
    model = join(tmp.dir, 'model.onnx');
    await copyFile(TINY_AE, model);
  });
  afterAll(async () => tmp.cleanup());

  it('writes a new model whose threshold judges exactly the scores the runtime computes; the input is untouched', async () => {
    const before = await sha(model);
    const out = join(tmp.dir, 'fpr.onnx');
    const run = await residuum(['calibrate', model, '--good', 'good', '--defective', 'bad', '--target-fpr', '0.05', '--out', out, '--exclude-set', 'test', '--ep', 'cpu'], tmp.dir);
    expect(run.err).not.toMatch(/error/);
    expect(run.code).toBe(0);
    expect(await sha(model)).toBe(before);
    const card = loadModelCard(new Uint8Array(await readFile(out)));
    expect(card.threshold.method).toBe('target-fpr');
    const record = (card.extras as { calibration: CalibrationRecord }).calibration;
    expect(record.policy).toEqual({ kind: 'target-fpr', fpr: 0.05 });
    expect(record.sets.map((s) => [s.role, s.count])).toEqual([['good', 40], ['defective', 20]]);
    expect(record.sets[0].fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(record.previousThreshold.value).toBe(0.05);
    expect(record.expected!.falseAlarmRate).toMatchObject({ trials: 40, method: 'clopper-pearson' });
    expect(record.expected!.falseAlarmRate.successes).toBeLessThanOrEqual(2);

    // The runtime, on the written file: its verdicts at the card threshold are the counts the card expects.
    const inspector = await createNodeInspector(out, { provider: 'cpu' });
    try {
      const goods = await inspector.inspect(Array.from({ length: 40 }, (_, k) => join(tmp.dir, 'good', `g${k}.png`)));
      const bads = await inspector.inspect(Array.from({ length: 20 }, (_, k) => join(tmp.dir, 'bad', `b${k}.png`)));
      const flagged = (results: typeof goods) => results.filter((r) => r.ok && r.isAnomalous && isAnomalous(r.score, card.threshold.value)).length;
      expect(flagged(goods)).toBe(record.expected!.falseAlarmRate.successes);
      expect(flagged(bads)).toBe(record.expected!.recall?.successes);
    } finally {
      await inspector.dispose();
    }
    expect(run.out).toMatch(/on the calibration images: \d+ of 20 defective parts caught/);
    expect(run.out).toMatch(/expected false-alarm rate \d+ of 40 \(.*95 % interval/);
  });

  it('target recall: the highest threshold that keeps it, with the false-alarm cost and the lower bound', async () => {
    const out = join(tmp.dir, 'recall.onnx');
    const run = await residuum(['calibrate', model, '--good', 'good', '--defective', 'bad', '--target-recall', '0.9', '--out', out, '--ep', 'cpu'], tmp.dir);
    expect(run.code).toBe(0);
    const card = loadModelCard(new Uint8Array(await readFile(out)));
    const record = (card.extras as { calibration: CalibrationRecord }).calibration;
    expect(card.threshold.method).toBe('target-recall');
    expect(record.expected!.recall?.successes).toBe(18);
    expect(record.expected!.recall?.lower).toBeLessThan(0.9);
    expect(run.out).toMatch(/expected recall 18 of 20 .*lower bound \d/);
    expect(run.out).toMatch(/expected false-alarm rate \d+ of 40/);
  });

  it('reads a set from a list file (paths relative to the list) and fingerprints it like the folder', async () => {
    await writeFile(join(tmp.dir, 'good.txt'), Array.from({ length: 40 }, (_, k) => `good/g${k}.png`).join('\n') + '\n');
    await writeFile(join(tmp.dir, 'missing.txt'), 'good/g0.png\ngood/nope.png\n');
    const fromList = join(tmp.dir, 'list.onnx');
    expect((await residuum(['calibrate', model, '--good', 'good.txt', '--target-fpr', '0.05', '--out', fromList, '--ep', 'cpu'], tmp.dir)).code).toBe(0);
    const fromFolder = join(tmp.dir, 'folder.onnx');
    expect((await residuum(['calibrate', model, '--good', 'good', '--target-fpr', '0.05', '--out', fromFolder, '--ep', 'cpu'], tmp.dir)).code).toBe(0);
    const recordOf = async (path: string) => (loadModelCard(new Uint8Array(await readFile(path))).extras as { calibration: CalibrationRecord }).calibration;
    expect((await recordOf(fromList)).sets[0].fingerprint).toBe((await recordOf(fromFolder)).sets[0].fingerprint);
    const missing = await residuum(['calibrate', model, '--good', 'missing.txt', '--target-fpr', '0.5', '--out', join(tmp.dir, 'x.onnx'), '--ep', 'cpu'], tmp.dir);
    expect(missing.err).toMatch(/--good missing.txt: cannot read .*nope.png \(ENOENT\)/);
  });

  it('never overwrites an existing file without --force, nor the input', async () => {
    const out = join(tmp.dir, 'taken.onnx');
    await writeFile(out, 'precious');
    const refused = await residuum(['calibrate', model, '--good', 'good', '--target-fpr', '0.05', '--out', out, '--ep', 'cpu'], tmp.dir);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/--out .*taken.onnx: holds an ONNX model; an existing ONNX model is never replaced without --force/);
    expect(await readFile(out, 'utf8')).toBe('precious');
    const forced = await residuum(['calibrate', model, '--good', 'good', '--target-fpr', '0.05', '--out', out, '--ep', 'cpu', '--force'], tmp.dir);
    expect(forced.code).toBe(0);
    const same = await residuum(['calibrate', model, '--good', 'good', '--target-fpr', '0.05', '--out', model, '--force'], tmp.dir);
    expect(same.err).toMatch(/is the input model/);
  });

  it('bad input: a clear error naming the flag and the set, and nothing written', async () => {
    const out = join(tmp.dir, 'never.onnx');
    const cases: Array<[string[], RegExp]> = [
      [['--good', 'good', '--target-fpr', '0.001'], /--good good: 40 good images cannot support a 0.1 % false-alarm target.*at least 1000 good images/],
      [['--good', 'good', '--defective', 'bad', '--target-recall', '0.99'], /--defective bad: 20 defective images cannot support a 99 % recall target.*at least 100/],
      [['--good', 'good', '--f1'], /--defective \(not given\): the F1 policy needs defective images/],
      [['--good', 'empty', '--target-fpr', '0.05'], /--good empty: no image found/],
      [['--good', 'good', '--defective', 'empty', '--f1'], /--defective empty: no image found/],
      [['--good', 'broken', '--target-fpr', '0.5'], /--good broken: .*cut.png cannot be scored/],
      [['--good', 'good', '--target-fpr', '0.05', '--exclude-set', 'broken'], /1 calibration image is in --exclude-set broken \(same content\): good\/g0.png = broken\/ok.png/],
      [['--good', 'good', '--defective', 'good', '--f1'], /cannot be both good and defective/],
      [['--good', 'good'], /give exactly one policy/],
      [['--good', 'good', '--target-fpr', '1.5'], /--target-fpr 1.5: the target false-alarm rate must be in \(0, 1\)/],
    ];
    for (const [args, message] of cases) {
      const run = await residuum(['calibrate', model, ...args, '--out', out, '--ep', 'cpu'], tmp.dir);
      expect(run.err, args.join(' ')).toMatch(message);
      expect(run.code).toBe(2);
      expect(await exists(out)).toBe(false);
    }
  });
});
