import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelCard } from '@residuum/inspection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGreyPng, makeTempDir, residuum, syntheticPart } from './helpers.js';

// The whole path a user takes: train -> export -> model-info -> inspect, on tiny images (wasm backend).
describe('residuum train and export', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  beforeAll(async () => {
    tmp = await makeTempDir('train');
    await mkdir(join(tmp.dir, 'data', 'good'), { recursive: true });
    for (let k = 0; k < 10; k += 1) await writeFile(join(tmp.dir, 'data', 'good', `g${k}.png`), encodeGreyPng(syntheticPart(500 + k, false), 16, 16));
  });
  afterAll(async () => tmp.cleanup());

  it('warns when the validation set is too small for the asked quantile, and the card records it', async () => {
    const args = ['train', '--model', 'cae', '--data', 'data', '--normal-dir', 'good', '--size', '16', '--channels', '1', '--epochs', '1', '--out', 'run-q', '--backend', 'wasm', '--batch', '4', '--seed', '3', '--val-split', '0.3', '--threshold-method', 'quantile:0.99'];
    const trained = await residuum(args, tmp.dir);
    expect(trained.code).toBe(0);
    expect(trained.err).toMatch(/warning: threshold: only 3 normal scores: the 0.99 quantile needs at least 100 .*\(recorded in the model card\)/);
    const card = JSON.parse(await readFile(join(tmp.dir, 'run-q', 'model-card.json'), 'utf8')) as { threshold: { note?: string } };
    expect(card.threshold.note).toMatch(/needs at least 100/);
  });

  it('trains a run folder, exports it to ONNX with the card, and the ONNX inspects', async () => {
    const args = ['train', '--model', 'cae', '--data', 'data', '--normal-dir', 'good', '--size', '16', '--channels', '1', '--epochs', '1', '--out', 'run', '--backend', 'wasm', '--batch', '4', '--seed', '3', '--val-split', '0.3', '--threshold-method', 'mean-std:2'];
    const trained = await residuum(args, tmp.dir);
    expect(trained.err).toMatch(/backend: wasm \(forced by request/);
    expect(trained.code).toBe(0);
    expect(trained.out).toMatch(/trained cae on backend wasm: 1 epoch\(s\)/);
    expect(trained.out).toContain('run folder: run');
    const runCard = JSON.parse(await readFile(join(tmp.dir, 'run', 'model-card.json'), 'utf8')) as {
      training: { command?: string; seed: number };
      threshold: { method: string; params: Record<string, number> };
      calibration: { count: number };
    };
    expect(runCard.training.command).toBe(['residuum', ...args].join(' '));
    expect(runCard.training.seed).toBe(3);
    expect(runCard.threshold.method).toBe('mean-std');
    expect(runCard.threshold.params.k).toBe(2);
    expect(runCard.calibration.count).toBe(3);

    const again = await residuum(args, tmp.dir);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/already holds a checkpoint: pass --resume/);

    const exported = await residuum(['export', 'run', '--out', 'models/cae.onnx'], tmp.dir);
    expect(exported.code).toBe(0);
    expect(exported.out).toMatch(/^wrote models\/cae\.onnx \([\d.]+ KiB, float32\)/);
    expect(exported.out).toMatch(/ONNX IR version 8, opset 17/);
    const card = loadModelCard(new Uint8Array(await readFile(join(tmp.dir, 'models', 'cae.onnx'))));
    expect(card.family).toBe('cae');
    expect(card.training.seed).toBe(3);
    const half = await residuum(['export', 'run', '--out', 'models/cae-fp16.onnx', '--fp16'], tmp.dir);
    expect(half.code).toBe(0);
    expect(half.out).toMatch(/^wrote models\/cae-fp16\.onnx \([\d.]+ KiB, float16\)/);
    expect(loadModelCard(new Uint8Array(await readFile(join(tmp.dir, 'models', 'cae-fp16.onnx')))).producer.converter).toMatch(/\(fp16\)$/);

    const info = await residuum(['model-info', 'models/cae.onnx', '--json'], tmp.dir);
    expect(JSON.parse(info.out)).toEqual(card);

    const inspected = await residuum(['inspect', 'models/cae.onnx', 'data/good', '--ep', 'cpu', '--threshold', '1e9'], tmp.dir);
    expect(inspected.code).toBe(0);
    expect(inspected.out).toMatch(/10 images: 10 ok, 0 anomalous/);
  }, 120_000);

  it('refuses to export over a file it did not write, or from a folder that is no run', async () => {
    await writeFile(join(tmp.dir, 'important.onnx'), 'not a model');
    const refused = await residuum(['export', 'run', '--out', 'important.onnx'], tmp.dir);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/--out important\.onnx: holds an ONNX model; an existing ONNX model is never replaced without --force/);
    expect(await readFile(join(tmp.dir, 'important.onnx'), 'utf8')).toBe('not a model');
    const noRun = await residuum(['export', 'data', '--out', 'x.onnx'], tmp.dir);
    expect(noRun.code).toBe(2);
    expect(noRun.err).toMatch(/data has no model\.json/);
    expect(await stat(join(tmp.dir, 'x.onnx')).catch(() => null)).toBeNull();
    const missing = await residuum(['export', 'nowhere', '--out', 'x.onnx'], tmp.dir);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/run folder not found: nowhere/);
  });

  it('checks the dataset flags before loading TensorFlow.js', async () => {
    const noDirs = await residuum(['train', '--model', 'cae', '--data', 'data', '--size', '16', '--channels', '1', '--epochs', '1', '--out', 'r'], tmp.dir);
    expect(noDirs.code).toBe(2);
    expect(noDirs.err).toMatch(/--layout folder needs --normal-dir/);
    const digit = await residuum(['train', '--model', 'cae', '--data', 'data', '--layout', 'mnist', '--size', '16', '--channels', '1', '--epochs', '1', '--out', 'r'], tmp.dir);
    expect(digit.code).toBe(2);
    expect(digit.err).toMatch(/--layout mnist needs --digit/);
    const split = await residuum(['train', '--model', 'cae', '--data', 'data', '--normal-dir', 'good', '--size', '16', '--channels', '1', '--epochs', '1', '--out', 'r', '--val-split', '1.5'], tmp.dir);
    expect(split.code).toBe(2);
    expect(split.err).toMatch(/--val-split must be between 0 and 1/);
    const method = await residuum(['train', '--model', 'cae', '--data', 'data', '--normal-dir', 'good', '--size', '16', '--channels', '1', '--epochs', '1', '--out', 'r', '--threshold-method', 'median'], tmp.dir);
    expect(method.code).toBe(2);
    expect(method.err).toMatch(/quantile\[:q\], mean-std\[:k\] or target-fpr/);
  });
});
