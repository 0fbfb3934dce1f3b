import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelCard } from '@residuum/inspection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_AE, makeTempDir, residuum } from './helpers.js';

describe('residuum model-info', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  beforeAll(async () => {
    tmp = await makeTempDir('model-info');
  });
  afterAll(async () => tmp.cleanup());

  it('prints the card fields from the ONNX metadata', async () => {
    const card = loadModelCard(new Uint8Array(await readFile(TINY_AE)));
    const run = await residuum(['model-info', TINY_AE]);
    expect(run.code).toBe(0);
    expect(run.err).toBe('');
    const field = (name: string) => run.out.split('\n').find((line) => line.startsWith(name + ' '))?.slice(name.length).trim();
    expect(field('model')).toBe(`${card.name} (family ${card.family}, card schema v1)`);
    expect(field('input')).toBe('input: NCHW float32 [N, 1, 16, 16]');
    expect(field('preprocessing')).toBe('16x16, 1 channel (grey, BT.601 luma), resize fill (bilinear), value = (pixel / 255 - mean[c]) / std[c], mean [0], std [1]');
    expect(field('outputs')).toBe('reconstruction: reconstruction [N, 1, 16, 16]');
    expect(field('score')).toBe('map squared, channels mean, smoothing sigma 0; image mean');
    expect(field('threshold')).toMatch(/^0\.05 \(manual; fitted on 0 scores/);
    expect(field('calibration')).toBe('10 normal scores: min 0.01, max 0.06, mean 0.03, std 0.01; q0.5 0.03, q0.99 0.055');
    expect(field('training')).toMatch(/seed 7, backend none, loss none/);
    expect(field('producer')).toBe(`trainer -, converter ${card.producer.converter}`);
    expect(field('onnx')).toMatch(/^IR version 8, opset ai\.onnx 17/);
  });

  it('shows Caffe-style preprocessing exactly: BGR order, pixels not divided, the per-channel means unrounded', async () => {
    const card = loadModelCard(new Uint8Array(await readFile(TINY_AE)));
    const caffe = {
      ...card,
      input: { ...card.input, shape: [card.input.shape[0], 3, 16, 16] },
      outputs: card.outputs.map((output) => ({ ...output, shape: [output.shape[0], 3, 16, 16] })),
      preprocessing: { ...card.preprocessing, channels: 3, channelOrder: 'bgr', pixelDivisor: 1, mean: [103.939, 116.779, 123.68], std: [1, 1, 1] },
    };
    await writeFile(join(tmp.dir, 'caffe-card.json'), JSON.stringify(caffe));
    const run = await residuum(['model-info', 'caffe-card.json'], tmp.dir);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(
      /^preprocessing\s+16x16, 3 channels in BGR order \(channel 0 is blue\), resize fill \(bilinear\), value = \(pixel - mean\[c\]\) \/ std\[c\], pixels 0\.\.255 \(divisor 1\), mean \[103\.939, 116\.779, 123\.68\] \(B, G, R\), std \[1, 1, 1\] \(B, G, R\)$/m,
    );
    const rgb = { ...caffe, preprocessing: { ...caffe.preprocessing, channelOrder: 'rgb', pixelDivisor: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } };
    await writeFile(join(tmp.dir, 'rgb-card.json'), JSON.stringify(rgb));
    const rgbRun = await residuum(['model-info', 'rgb-card.json'], tmp.dir);
    expect(rgbRun.out).toMatch(/^preprocessing\s+16x16, 3 channels \(RGB\), resize fill \(bilinear\), value = \(pixel \/ 255 - mean\[c\]\) \/ std\[c\], mean \[0\.485, 0\.456, 0\.406\], std \[0\.229, 0\.224, 0\.225\]$/m);
  });

  it('prints exactly the embedded card with --json', async () => {
    const run = await residuum(['model-info', TINY_AE, '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toEqual(loadModelCard(new Uint8Array(await readFile(TINY_AE))));
  });

  it('reads a run folder model-card.json and validates it', async () => {
    const card = loadModelCard(new Uint8Array(await readFile(TINY_AE)));
    await mkdir(join(tmp.dir, 'run'));
    await writeFile(join(tmp.dir, 'run', 'model-card.json'), JSON.stringify({ ...card, name: 'from-run-folder' }));
    const run = await residuum(['model-info', 'run'], tmp.dir);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^model\s+from-run-folder \(family cae/m);
    expect(run.out).toMatch(/^source\s+run\/model-card\.json \(run folder model-card\.json\)/m);

    await writeFile(join(tmp.dir, 'bad-card.json'), JSON.stringify({ ...card, family: 'gan', threshold: { value: 'high' } }));
    const bad = await residuum(['model-info', 'bad-card.json'], tmp.dir);
    expect(bad.code).toBe(2);
    expect(bad.err.trimEnd().split('\n')).toHaveLength(1);
    expect(bad.err).toMatch(/family/);
    expect(bad.err).toMatch(/threshold/);

    await writeFile(join(tmp.dir, 'not-json.json'), '{ nope');
    const notJson = await residuum(['model-info', 'not-json.json'], tmp.dir);
    expect(notJson.code).toBe(2);
    expect(notJson.err).toMatch(/not-json\.json: not valid JSON/);

    await mkdir(join(tmp.dir, 'empty-run'));
    const noCard = await residuum(['model-info', 'empty-run'], tmp.dir);
    expect(noCard.code).toBe(2);
    expect(noCard.err).toMatch(/empty-run is a folder without model-card\.json/);
  });
});
