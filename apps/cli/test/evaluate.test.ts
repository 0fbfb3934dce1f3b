import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createNodeInspector } from '@residuum/runtime-node';
import { aupro, auroc, averagePrecision, confusionAtThreshold, f1Max, operatingPoints, pixelAuroc, verdictCounts, type OperatingPoints, type SegmentationSample, type VerdictCounts } from '@residuum/scoring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_AE, encodeGreyPng, makeTempDir, residuum, syntheticPart } from './helpers.js';

interface EvaluateJson {
  generator: string;
  model: { name: string; family: string; cardThreshold: number };
  provider: string;
  dataset: { normal: number; anomalous: number; scored: number; skipped: number };
  image: { auroc: number; ap: number; f1: number; f1Max: number; f1MaxThreshold: number; accuracy: number; threshold: number; precision: number; recall: number; confusion: { tp: number; fp: number; tn: number; fn: number }; perDefectType: Array<{ defectType: string; count: number; auroc: number; detectionRate: number }>; atThreshold: VerdictCounts; operatingPoints: OperatingPoints; balancedAccuracy: number };
  pixel?: { auroc: number; aupro: number };
  perImage: Array<{ path: string; label: 0 | 1; score: number; isAnomalous: boolean }>;
  skipped: Array<{ path: string; reason: string }>;
  timings: { totalMs: number; imagesPerSecond: number };
}

async function readJson(path: string): Promise<EvaluateJson> {
  return JSON.parse(await readFile(path, 'utf8')) as EvaluateJson;
}

describe('residuum evaluate', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;

  beforeAll(async () => {
    tmp = await makeTempDir('evaluate');
    // Folder layout: 6 good, 5 defective, a text file and a broken image.
    await mkdir(join(tmp.dir, 'folder', 'good'), { recursive: true });
    await mkdir(join(tmp.dir, 'folder', 'bad'), { recursive: true });
    for (let k = 0; k < 6; k += 1) await writeFile(join(tmp.dir, 'folder', 'good', `g${k}.png`), encodeGreyPng(syntheticPart(100 + k, false), 16, 16));
    for (let k = 0; k < 5; k += 1) await writeFile(join(tmp.dir, 'folder', 'bad', `b${k}.png`), encodeGreyPng(syntheticPart(200 + k, true), 16, 16));
    await writeFile(join(tmp.dir, 'folder', 'good', 'README.txt'), 'notes');
    await writeFile(join(tmp.dir, 'exclude.txt'), '# left out\ngood/g5.png\n');
    // MVTec layout with masks, for the pixel metrics.
    const mv = join(tmp.dir, 'mvtec');
    for (const dir of ['train/good', 'test/good', 'test/blob', 'ground_truth/blob']) await mkdir(join(mv, dir), { recursive: true });
    await writeFile(join(mv, 'train/good/t0.png'), encodeGreyPng(syntheticPart(1, false), 16, 16));
    for (let k = 0; k < 3; k += 1) await writeFile(join(mv, `test/good/${k}.png`), encodeGreyPng(syntheticPart(300 + k, false), 16, 16));
    for (let k = 0; k < 3; k += 1) {
      const pixels = syntheticPart(400 + k, true);
      await writeFile(join(mv, `test/blob/${k}.png`), encodeGreyPng(pixels, 16, 16));
      await writeFile(join(mv, `ground_truth/blob/${k}_mask.png`), encodeGreyPng(pixels.map((v) => (v === 250 ? 255 : 0)), 16, 16));
    }
  });
  afterAll(async () => tmp.cleanup());

  it('writes the metrics of @residuum/scoring over the per-image scores (folder layout)', async () => {
    const out = join(tmp.dir, 'eval.json');
    const run = await residuum(
      ['evaluate', TINY_AE, '--data', 'folder', '--normal-dir', 'good', '--anomaly-dir', 'bad', '--json', out, '--ep', 'cpu'],
      tmp.dir,
    );
    expect(run.err).toMatch(/note: good\/README\.txt/);
    expect(run.code).toBe(0);
    const json = await readJson(out);
    expect(json.generator).toMatch(/^residuum /);
    expect(json.model).toMatchObject({ name: 'tiny-ae-fixture', family: 'cae', cardThreshold: 0.05 });
    expect(json.provider).toBe('cpu');
    expect(json.dataset).toMatchObject({ normal: 6, anomalous: 5, scored: 11, skipped: 0 });
    expect(json.perImage).toHaveLength(11);
    expect(json.perImage.filter((r) => r.label === 1).every((r) => r.path.includes('/bad/'))).toBe(true);
    expect(json.pixel).toBeUndefined();

    const scores = json.perImage.map((r) => r.score);
    const labels = json.perImage.map((r) => r.label);
    const atThreshold = confusionAtThreshold(scores, labels, json.image.threshold);
    const best = f1Max(scores, labels);
    expect(json.image.threshold).toBe(0.05);
    expect(json.image.auroc).toBe(auroc(scores, labels));
    expect(json.image.ap).toBe(averagePrecision(scores, labels));
    expect(json.image.f1).toBe(atThreshold.f1);
    expect(json.image.accuracy).toBe(atThreshold.accuracy);
    expect(json.image.f1Max).toBe(best.f1);
    expect(json.image.f1MaxThreshold).toBe(best.threshold);
    expect(json.image.confusion).toEqual({ tp: atThreshold.tp, fp: atThreshold.fp, tn: atThreshold.tn, fn: atThreshold.fn });
    expect(json.image.atThreshold).toEqual(verdictCounts(scores, labels, 0.05));
    expect(json.image.operatingPoints).toEqual(operatingPoints(scores, labels));
    expect(json.image.balancedAccuracy).toBeCloseTo((atThreshold.recall + 1 - atThreshold.falsePositiveRate) / 2, 12);
    // The summary opens with the verdict in words.
    expect(run.out.split('\n')[0]).toBe(`at the model's threshold: ${atThreshold.tp} of 5 defective parts caught (${((100 * atThreshold.tp) / 5).toFixed(1)} %), ${atThreshold.fp} of 6 good parts rejected (${((100 * atThreshold.fp) / 6).toFixed(1)} %)`);
    expect(run.out).toMatch(/operating points: recall [\d.]+ % at 0\.1 % false alarms, .* false alarms [\d.]+ % at 99\.0 % recall/);
    // One defect type (the folder's name): its AUROC is the overall one.
    expect(json.image.perDefectType).toEqual([
      { defectType: 'bad', count: 5, auroc: json.image.auroc, detectionRate: json.perImage.filter((r) => r.label === 1 && r.score >= 0.05).length / 5 },
    ]);
    for (const r of json.perImage) expect(r.isAnomalous).toBe(r.score >= 0.05);
    expect(json.skipped).toEqual([]);
    expect(run.out).toContain(`image AUROC ${Number(json.image.auroc.toPrecision(4))}`);

    // The per-image scores are the runtime's.
    const inspector = await createNodeInspector(TINY_AE, { provider: 'cpu' });
    const [direct] = await inspector.inspect([join(tmp.dir, 'folder', 'bad', 'b0.png')]);
    await inspector.dispose();
    expect(direct.ok && json.perImage.find((r) => r.path.endsWith('bad/b0.png'))?.score).toBe(direct.ok ? direct.score : NaN);
  });

  it('applies a threshold override and an exclusion list, and writes the HTML report', async () => {
    const out = join(tmp.dir, 'eval-override.json');
    const report = join(tmp.dir, 'reports', 'eval.html');
    const run = await residuum(
      ['evaluate', TINY_AE, '--data', 'folder', '--normal-dir', 'good', '--anomaly-dir', 'bad', '--exclude', 'exclude.txt', '--json', out, '--report', report, '--threshold', '0', '--ep', 'cpu'],
      tmp.dir,
    );
    expect(run.code).toBe(0);
    const json = await readJson(out);
    expect(json.dataset).toMatchObject({ normal: 5, anomalous: 5 });
    expect(json.perImage.some((r) => r.path.endsWith('g5.png'))).toBe(false);
    expect(json.image.threshold).toBe(0);
    expect(json.image.confusion).toEqual({ tp: 5, fp: 5, tn: 0, fn: 0 });
    expect(json.image.recall).toBe(1);
    const html = await readFile(report, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/https?:/);
    expect(html).toContain(`AUROC ${Number(json.image.auroc.toPrecision(4))}`);
    // Every good part is a false positive at threshold 0: the gallery shows the worst ones with images.
    const gallery = html.slice(html.indexOf('data-gallery="fp"'));
    expect(gallery.match(/src="data:image\/png;base64,/g)?.length).toBe(5);
    expect(html).toContain('No false negatives at this threshold.');
  });

  it('computes pixel AUROC and AUPRO when the dataset has masks (MVTec layout)', async () => {
    const out = join(tmp.dir, 'mvtec.json');
    const run = await residuum(['evaluate', TINY_AE, '--data', 'mvtec', '--layout', 'mvtec', '--json', out, '--ep', 'cpu'], tmp.dir);
    expect(run.code).toBe(0);
    const json = await readJson(out);
    expect(json.dataset).toMatchObject({ normal: 3, anomalous: 3 });
    expect(json.pixel).toBeDefined();
    // Recompute from the runtime's maps and the masks as the CLI should have.
    const inspector = await createNodeInspector(TINY_AE, { provider: 'cpu' });
    const samples: SegmentationSample[] = [];
    for (const r of json.perImage) {
      const [result] = await inspector.inspect([r.path], { returnMaps: true });
      if (!result.ok || !result.map) throw new Error('no map');
      const stem = r.path.split('/').pop()!.replace('.png', '');
      const mask = new Uint8Array(256);
      if (r.label === 1) {
        const pixels = syntheticPart(400 + Number(stem), true);
        for (let i = 0; i < 256; i += 1) mask[i] = pixels[i] === 250 ? 1 : 0;
      }
      samples.push({ map: result.map.data, mask, width: 16, height: 16 });
    }
    await inspector.dispose();
    expect(json.pixel!.auroc).toBeCloseTo(pixelAuroc(samples), 10);
    expect(json.pixel!.aupro).toBeCloseTo(aupro(samples, 0.3), 10);
    expect(run.out).toMatch(/pixel AUROC [\d.]+\s+AUPRO\(0\.3\) [\d.]+/);
  });

  it('says in one line that an MVTec folder has no masks, instead of one line per defective image', async () => {
    const mv = join(tmp.dir, 'mvtec-no-masks');
    await cp(join(tmp.dir, 'mvtec'), mv, { recursive: true });
    await rm(join(mv, 'ground_truth'), { recursive: true });
    const run = await residuum(['evaluate', TINY_AE, '--data', mv, '--layout', 'mvtec', '--json', join(tmp.dir, 'nomask.json'), '--ep', 'cpu'], tmp.dir);
    expect(run.code).toBe(0);
    const noteLines = run.err.split('\n').filter((l) => l.startsWith('note:'));
    expect(noteLines).toEqual([expect.stringMatching(/^note: 3 defective images have no ground-truth mask \(e\.g\. test\/blob\/0\.png\); they are left out of pixel metrics/)]);
    const json = JSON.parse(await readFile(join(tmp.dir, 'nomask.json'), 'utf8')) as { notes: unknown[] };
    expect(json.notes).toHaveLength(3);
  });

    it('leaves an image with an unreadable mask out of the pixel metrics, with a note', async () => {
    const mv = join(tmp.dir, 'mvtec-broken-mask');
    await cp(join(tmp.dir, 'mvtec'), mv, { recursive: true });
    await writeFile(join(mv, 'ground_truth/blob/2_mask.png'), 'not a png');
    const out = join(tmp.dir, 'mvtec-broken.json');
    const run = await residuum(['evaluate', TINY_AE, '--data', mv, '--layout', 'mvtec', '--json', out, '--ep', 'cpu'], tmp.dir);
    expect(run.code).toBe(0);
    const json = (await readJson(out)) as EvaluateJson & { notes: Array<{ path: string; reason: string }> };
    expect(json.perImage).toHaveLength(6);
    expect(json.pixel?.auroc).toBeGreaterThan(0);
    expect(json.notes.some((n) => n.path.endsWith('test/blob/2.png') && /mask not readable/.test(n.reason))).toBe(true);
    expect(run.err).toMatch(/mask not readable/);
  });

  it('skips unreadable images, lists them and exits 3', async () => {
    await writeFile(join(tmp.dir, 'folder', 'bad', 'broken.png'), (await readFile(join(tmp.dir, 'folder', 'bad', 'b0.png'))).subarray(0, 50));
    const out = join(tmp.dir, 'eval-skipped.json');
    const run = await residuum(['evaluate', TINY_AE, '--data', 'folder', '--normal-dir', 'good', '--anomaly-dir', 'bad', '--json', out, '--ep', 'cpu'], tmp.dir);
    expect(run.code).toBe(3);
    const json = await readJson(out);
    expect(json.skipped).toHaveLength(1);
    expect(json.skipped[0].path).toMatch(/broken\.png$/);
    expect(json.dataset).toMatchObject({ scored: 11, skipped: 1 });
    expect(run.err).toMatch(/skipped folder\/bad\/broken\.png: /);
  });

  it('explains bad dataset arguments', async () => {
    const noDirs = await residuum(['evaluate', TINY_AE, '--data', 'folder', '--json', 'x.json'], tmp.dir);
    expect(noDirs.code).toBe(2);
    expect(noDirs.err).toMatch(/--layout folder needs at least one --normal-dir and one --anomaly-dir/);
    const missing = await residuum(['evaluate', TINY_AE, '--data', 'nowhere', '--normal-dir', 'a', '--anomaly-dir', 'b', '--json', 'x.json'], tmp.dir);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nowhere/);
    const oneClass = await residuum(['evaluate', TINY_AE, '--data', 'folder', '--normal-dir', 'good', '--anomaly-dir', 'good', '--json', 'x.json'], tmp.dir);
    expect(oneClass.code).toBe(2);
    const mnistWithoutDigit = await residuum(['evaluate', TINY_AE, '--data', 'folder', '--layout', 'mnist', '--json', 'x.json'], tmp.dir);
    expect(mnistWithoutDigit.code).toBe(2);
    expect(mnistWithoutDigit.err).toMatch(/--layout mnist needs --digit/);
    const samePath = await residuum(['evaluate', TINY_AE, '--data', 'folder', '--normal-dir', 'good', '--anomaly-dir', 'bad', '--json', 'same.out', '--report', 'same.out'], tmp.dir);
    expect(samePath.code).toBe(2);
    expect(samePath.err).toMatch(/--json and --report name the same file/);
  });
});
