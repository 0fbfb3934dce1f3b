import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createNodeInspector } from '@residuum/runtime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, TINY_AE, encodeGreyPng, makeTempDir, residuum, syntheticPart } from './helpers.js';

interface InspectJson {
  generator: string;
  threshold: number;
  provider: string;
  summary: { total: number; ok: number; anomalous: number; errors: number; skippedNonImages: number };
  results: Array<{ path: string; ok: boolean; score?: number; normalizedScore?: number; isAnomalous?: boolean; error?: string; heatmap?: string }>;
  skipped: Array<{ path: string; reason: string }>;
}

const HUGE = '1e9';

describe('residuum inspect (tiny fixture model, generated 16x16 PNGs)', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  let images: string[];

  beforeAll(async () => {
    tmp = await makeTempDir('inspect');
    await mkdir(join(tmp.dir, 'parts', 'line2'), { recursive: true });
    images = [];
    for (let k = 0; k < 4; k += 1) {
      const path = join(tmp.dir, 'parts', k < 2 ? '' : 'line2', `part-${k}.png`);
      await writeFile(path, encodeGreyPng(syntheticPart(k + 1, k % 2 === 1), 16, 16));
      images.push(path);
    }
    await writeFile(join(tmp.dir, 'parts', 'notes.txt'), 'not an image');
    const good = await readFile(images[0]);
    await writeFile(join(tmp.dir, 'broken.png'), good.subarray(0, 40));
  });
  afterAll(async () => tmp.cleanup());

  it('prints one line per image with score, normalized score and verdict, equal to the runtime', async () => {
    const run = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu'], tmp.dir);
    expect(run.err).toContain('skipped parts/notes.txt: not an image extension');
    const lines = run.out.split('\n').filter((line) => line.includes('\tscore='));
    expect(lines).toHaveLength(4);
    const inspector = await createNodeInspector(TINY_AE, { provider: 'cpu' });
    const direct = await inspector.inspect(images.slice().sort());
    await inspector.dispose();
    let anomalous = 0;
    for (const result of direct) {
      if (!result.ok) throw new Error(result.error);
      const line = lines.find((l) => l.startsWith(result.source.slice(tmp.dir.length + 1) + '\t'));
      expect(line, result.source).toBeDefined();
      const [, score, normalized, verdict] = line!.split('\t');
      // Lines show 4 significant digits (the JSON has them all).
      expect(Math.abs(Number(score.slice('score='.length)) - result.score) / result.score).toBeLessThan(1e-3);
      expect(Number(normalized.slice('normalized='.length))).toBeCloseTo(result.normalizedScore, 3);
      expect(verdict).toBe(result.isAnomalous ? 'ANOMALY' : 'OK');
      if (result.isAnomalous) anomalous += 1;
    }
    expect(run.code).toBe(anomalous > 0 ? 1 : 0);
    expect(run.out).toContain(`4 images: ${4 - anomalous} ok, ${anomalous} anomalous, 0 unreadable, 1 non-image files skipped`);
    expect(run.out).toMatch(/provider cpu/);
    expect(run.out).toMatch(/images\/s/);
  });

  it('exits 0 with a huge threshold', async () => {
    const run = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--threshold', HUGE], tmp.dir);
    expect(run.code).toBe(0);
    expect(run.out.split('\n').filter((line) => line.endsWith('\tOK'))).toHaveLength(4);
    expect(run.out).toMatch(/threshold 1\.000e\+9 \(override\)/);
  });

  it('exits 1 and says ANOMALY for every part with --threshold 0', async () => {
    const run = await residuum(['inspect', TINY_AE, ...images, '--ep', 'cpu', '--threshold', '0'], tmp.dir);
    expect(run.code).toBe(1);
    expect(run.out.split('\n').filter((line) => line.endsWith('\tANOMALY'))).toHaveLength(4);
    expect(run.out).toMatch(/0 ok, 4 anomalous/);
  });

  it('uses the card threshold by default: verdicts follow score >= threshold', async () => {
    const out = join(tmp.dir, 'default.json');
    const run = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--json', out], tmp.dir);
    const json = JSON.parse(await readFile(out, 'utf8')) as InspectJson;
    expect(json.threshold).toBe(0.05);
    for (const result of json.results) expect(result.isAnomalous).toBe((result.score ?? NaN) >= json.threshold);
    expect(run.code).toBe(json.summary.anomalous > 0 ? 1 : 0);
  });

  it('writes the JSON results, lists an unreadable image as an error and exits 3', async () => {
    const out = join(tmp.dir, 'out', 'results.json');
    const run = await residuum(['inspect', TINY_AE, 'parts', 'broken.png', 'missing.png', '--ep', 'cpu', '--threshold', HUGE, '--json', out], tmp.dir);
    expect(run.code).toBe(3);
    expect(run.out).toMatch(/broken\.png\tERROR\t.*truncated/i);
    expect(run.out).toMatch(/missing\.png\tERROR\tno such file or directory/);
    const json = JSON.parse(await readFile(out, 'utf8')) as InspectJson;
    expect(json.generator).toMatch(/^residuum /);
    expect(json.provider).toBe('cpu');
    expect(json.threshold).toBe(1e9);
    expect(json.summary).toMatchObject({ total: 6, ok: 4, anomalous: 0, errors: 2, skippedNonImages: 1 });
    expect(json.results.filter((r) => r.ok)).toHaveLength(4);
    for (const r of json.results.filter((r) => r.ok)) {
      expect(r.score).toBeGreaterThan(0);
      expect(r.normalizedScore).toBeGreaterThanOrEqual(0);
      expect(r.normalizedScore).toBeLessThanOrEqual(1);
      expect(r.isAnomalous).toBe(false);
    }
    expect(json.results.find((r) => r.path.endsWith('broken.png'))).toMatchObject({ ok: false });
    expect(json.skipped).toEqual([{ path: join(tmp.dir, 'parts', 'notes.txt'), reason: 'not an image extension' }]);
    // A second run may replace its own file.
    const again = await residuum(['inspect', TINY_AE, images[0], '--ep', 'cpu', '--threshold', HUGE, '--json', out], tmp.dir);
    expect(again.code).toBe(0);
    expect((JSON.parse(await readFile(out, 'utf8')) as InspectJson).summary.total).toBe(1);
  });

  it('anomalies outrank unreadable images in the exit code', async () => {
    const run = await residuum(['inspect', TINY_AE, images[0], 'broken.png', '--ep', 'cpu', '--threshold', '0'], tmp.dir);
    expect(run.code).toBe(1);
  });

  it('writes input | reconstruction | heatmap PNGs with --maps', async () => {
    const maps = join(tmp.dir, 'maps');
    const run = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--threshold', HUGE, '--maps', maps], tmp.dir);
    expect(run.code).toBe(0);
    const files = (await readdir(maps)).filter((f) => f.endsWith('.png')).sort();
    expect(files).toEqual(['line2__part-2.png', 'line2__part-3.png', 'part-0.png', 'part-1.png']);
    const png = await readFile(join(maps, files[0]));
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    // 3 panels of 16 px scaled to 128 px plus two 4 px gaps.
    expect(png.readUInt32BE(16)).toBe(3 * 128 + 2 * 4);
    expect(png.readUInt32BE(20)).toBe(128);
    expect(run.out).toContain('heatmaps: 4 written');
    // Same names when the folder is given as an absolute path.
    const absoluteMaps = join(tmp.dir, 'maps-absolute');
    await residuum(['inspect', TINY_AE, join(tmp.dir, 'parts'), '--ep', 'cpu', '--threshold', HUGE, '--maps', absoluteMaps], tmp.dir);
    expect((await readdir(absoluteMaps)).filter((f) => f.endsWith('.png')).sort()).toEqual(files);
  });

  it('adds the uncertainty panel for an MC-Dropout model', async () => {
    const maps = join(tmp.dir, 'mc-maps');
    const run = await residuum(['inspect', join(FIXTURES, 'tiny-mc-ae.onnx'), images[1], '--ep', 'cpu', '--mc-samples', '4', '--maps', maps], tmp.dir);
    expect([0, 1]).toContain(run.code);
    const png = await readFile(join(maps, 'part-1.png'));
    expect(png.readUInt32BE(16)).toBe(4 * 128 + 3 * 4);
  });

  it('refuses output paths it must not write', async () => {
    await mkdir(join(tmp.dir, 'a-folder'), { recursive: true });
    const dir = await residuum(['inspect', TINY_AE, images[0], '--json', 'a-folder'], tmp.dir);
    expect(dir.code).toBe(2);
    expect(dir.err).toMatch(/--json a-folder: is a folder; give a file path such as a-folder\/result\.json/);
    await writeFile(join(tmp.dir, 'precious.json'), '{"mine": true}');
    const foreign = await residuum(['inspect', TINY_AE, images[0], '--json', 'precious.json'], tmp.dir);
    expect(foreign.code).toBe(2);
    expect(foreign.err).toMatch(/--json precious\.json: holds a file that residuum did not write; refusing to replace it with an inspect result \(JSON\) without --force/);
    expect(await readFile(join(tmp.dir, 'precious.json'), 'utf8')).toBe('{"mine": true}');
    const forced = await residuum(['inspect', TINY_AE, images[0], '--json', 'precious.json', '--force', '--threshold', HUGE], tmp.dir);
    expect(forced.code).toBe(0);
    const mapsIntoForeignFolder = await residuum(['inspect', TINY_AE, images[0], '--maps', 'parts'], tmp.dir);
    expect(mapsIntoForeignFolder.code).toBe(2);
    expect(mapsIntoForeignFolder.err).toMatch(/--maps parts: folder holds \d+ file\(s\) and was not made by residuum/);
  });

  it('fails clearly when the paths hold no image, and when CUDA is requested here', async () => {
    await mkdir(join(tmp.dir, 'empty'), { recursive: true });
    const none = await residuum(['inspect', TINY_AE, 'empty'], tmp.dir);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/no images found in empty/);
    const cuda = await residuum(['inspect', TINY_AE, images[0], '--ep', 'cuda'], tmp.dir);
    expect(cuda.code).toBe(2);
    expect(cuda.err.trimEnd().split('\n')).toHaveLength(1);
    expect(cuda.err).toMatch(/CUDA/);
  });
});
