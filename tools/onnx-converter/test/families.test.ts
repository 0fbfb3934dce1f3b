/**
 * Whole model families as @residuum/train builds and saves them: run folder -> exportRunFolder
 * -> checker, onnxruntime-node and -web vs predict, the card round trip through metadata_props,
 * and the in-memory entry point convertTrainedModel that `residuum export` calls.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelCardFromMetadata, type ModelCard } from '@residuum/scoring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertTrainedModel } from '../src/index.js';
import { readRunFolder } from '@residuum/train/run-folder';
import { exportRunFolder } from './helpers/run-folder.js';
import { decodeModelObject } from '../src/onnx-model.js';
import { sampleCard } from './helpers/card.js';
import { checkOnnxModels } from './helpers/onnx-checker.js';
import { runOrtNode, runOrtWeb } from './helpers/runtimes.js';
import { compareWithPredict, maxAbsDiff, parityFeeds, randomizeWeights, seededRandom, tf, useCpuBackend } from './helpers/tfjs-harness.js';
import { buildModel, modelMcDropout, modelOutputs, resolveModelSpec, saveModelToDir, type PartialModelSpec } from '@residuum/train';

const workDir = mkdtempSync(join(tmpdir(), 'onnx-converter-families-'));

beforeAll(useCpuBackend);
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function metadataOf(bytes: Uint8Array): Record<string, string> {
  const decoded = decodeModelObject(bytes) as { metadataProps?: Array<{ key: string; value: string }> };
  return Object.fromEntries((decoded.metadataProps ?? []).map((p) => [p.key, p.value]));
}

async function writeRunDir(name: string, partial: PartialModelSpec): Promise<{ dir: string; model: tf.LayersModel; card: ModelCard }> {
  const spec = resolveModelSpec(partial);
  const model = buildModel(spec);
  randomizeWeights(model, 31);
  const dir = join(workDir, name);
  await saveModelToDir(model, dir);
  const card = sampleCard(spec.channels, spec.inputSize, modelOutputs(spec), spec.family);
  const mc = modelMcDropout(spec);
  if (mc) card.mcDropout = mc;
  writeFileSync(join(dir, 'model-card.json'), JSON.stringify(card, null, 2));
  return { dir, model, card };
}

const FAMILIES: Array<[string, PartialModelSpec]> = [
  ['cae', { family: 'cae', inputSize: 16, channels: 3, widths: [4, 6], seed: 1 }],
  ['ncae', { family: 'ncae', inputSize: 16, channels: 1, widths: [5, 4], seed: 2 }],
  ['aesc', { family: 'aesc', inputSize: 16, channels: 1, widths: [4, 6, 6], seed: 3 }],
  ['vae', { family: 'vae', inputSize: 16, channels: 3, widths: [4, 6], latentDim: 5, seed: 4 }],
];

describe('model families', () => {
  for (const [name, partial] of FAMILIES) {
    it(`${name}: run folder converts, passes the checker and matches predict in both runtimes`, async () => {
      const { dir, model, card } = await writeRunDir(name, partial);
      const outFile = join(dir, 'model.onnx');
      const converted = await exportRunFolder(dir, { outFile });
      const bytes = new Uint8Array(readFileSync(outFile));
      expect(bytes).toEqual(converted.onnx);
      const result = await compareWithPredict(model, converted, { batch: 3, seed: 5 });
      for (const [output, diff] of Object.entries(result.nodeDiff)) expect(diff, `node ${output}`).toBeLessThanOrEqual(1e-4);
      for (const [output, diff] of Object.entries(result.webDiff)) expect(diff, `web ${output}`).toBeLessThanOrEqual(1e-4);
      // Every family but MC-Dropout AESc gets the scoring head (its map is of the mean of N passes).
      const headed = name !== 'aesc';
      expect(converted.report.scoringHead).toEqual(headed ? { output: 'anomaly_map' } : { skipped: expect.stringMatching(/MC-Dropout/) });
      const expectedOutputs = headed ? [...card.outputs, expect.objectContaining({ name: 'anomaly_map', meaning: 'anomaly-map', shape: ['N', 1, ...card.input.shape.slice(2)] })] : card.outputs;
      expect(converted.report.outputs.map((o) => o.name)).toEqual([...card.outputs.map((o) => o.name), ...(headed ? ['anomaly_map'] : [])]);
      expect(converted.report.foldedBatchNorms).toBeGreaterThan(0);

      const embedded = modelCardFromMetadata(metadataOf(bytes));
      expect(embedded).toEqual({ ...card, outputs: expectedOutputs, producer: { ...card.producer, converter: expect.stringMatching(/^@residuum\/onnx-converter@\d/) }, ...(card.mcDropout ? { mcDropout: card.mcDropout } : {}) });
      expect(metadataOf(bytes)['residuum.family']).toBe(name);
    });
  }

  it('aesc: N stochastic passes through the mask inputs agree between onnxruntime-node and -web and differ from the deterministic pass', async () => {
    const { dir, model } = await writeRunDir('aesc-mc', FAMILIES[2][1]);
    const converted = await exportRunFolder(dir, { outFile: join(dir, 'model.onnx') });
    expect(converted.report.mcMaskInputs.length).toBeGreaterThan(0);
    const { feeds } = parityFeeds(model, converted, 2, 9);
    const deterministic = await runOrtNode(converted.onnx, feeds);
    const random = seededRandom(77);
    for (const mask of converted.report.mcMaskInputs) {
      feeds[mask.name] = { data: feeds[mask.name].data.map(() => (random() < mask.rate ? 0 : 1 / (1 - mask.rate))), dims: feeds[mask.name].dims };
    }
    const node = await runOrtNode(converted.onnx, feeds);
    const web = await runOrtWeb(converted.onnx, feeds);
    expect(maxAbsDiff(node.reconstruction, web.reconstruction)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(node.reconstruction, deterministic.reconstruction)).toBeGreaterThan(1e-3);
  });

  it('a truncated or corrupted conversion output fails the ONNX checker (harness sanity)', async () => {
    const { dir } = await writeRunDir('cae-damaged', FAMILIES[0][1]);
    const { onnx } = await exportRunFolder(dir, { outFile: join(dir, 'model.onnx') });
    const truncated = onnx.slice(0, Math.floor(onnx.byteLength * 0.6));
    const garbage = Uint8Array.from(onnx, (b, i) => (i < 64 ? 0xff : b));
    const [good, cut, bad] = checkOnnxModels([onnx, truncated, garbage]);
    expect(good.ok).toBe(true);
    expect(cut.ok, cut.message).toBe(false);
    expect(bad.ok, bad.message).toBe(false);
  });
});

describe('convertTrainedModel (in memory) on what the run folder module reads', () => {
  it('converts the in-memory model exactly as its run folder, fp16 included, and reads no file itself', async () => {
    const { dir } = await writeRunDir('cae-memory', FAMILIES[0][1]);
    const model = await readRunFolder(dir);
    const fromFolder = await exportRunFolder(dir, { outFile: join(dir, 'out', 'model.onnx') });
    expect(new Uint8Array(readFileSync(join(dir, 'out', 'model.onnx')))).toEqual(fromFolder.onnx);
    rmSync(dir, { recursive: true, force: true });
    const fromMemory = convertTrainedModel(model);
    expect(fromMemory.onnx).toEqual(fromFolder.onnx);
    const fromMemory16 = convertTrainedModel(model, { fp16: true });
    expect(fromMemory16.report.fp16).toBe(true);
    const [v32, v16] = checkOnnxModels([fromMemory.onnx, fromMemory16.onnx]);
    expect([v32.ok, v16.ok]).toEqual([true, true]);
  });

  it('reads weights split over several shard files, in manifest order', async () => {
    const { dir } = await writeRunDir('cae-shards', FAMILIES[0][1]);
    const whole = await exportRunFolder(dir, { outFile: join(dir, 'whole.onnx') });
    const weights = readFileSync(join(dir, 'weights.bin'));
    const cut = 4099; // not a multiple of 4: tf.io shards split at byte boundaries
    writeFileSync(join(dir, 'group1-shard1of2.bin'), weights.subarray(0, cut));
    writeFileSync(join(dir, 'group1-shard2of2.bin'), weights.subarray(cut));
    rmSync(join(dir, 'weights.bin'));
    const modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
    modelJson.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
    writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
    const sharded = await exportRunFolder(dir, { outFile: join(dir, 'sharded.onnx') });
    expect(sharded.onnx).toEqual(whole.onnx);
    modelJson.weightsManifest[0].paths = ['group1-shard1of2.bin'];
    writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
    await expect(exportRunFolder(dir, { outFile: join(dir, 'short.onnx') })).rejects.toThrow(/weight files hold \d+ bytes, model\.json needs \d+/);
  });

  it('names the missing file of a run folder', async () => {
    await expect(exportRunFolder(join(workDir, 'no-such-run'), { outFile: join(workDir, 'x.onnx') })).rejects.toThrow(/run folder not found: .*no-such-run/);
  });

  it('rejects a run folder whose card is invalid, listing the problems', async () => {
    const { dir, card } = await writeRunDir('cae-badcard', FAMILIES[0][1]);
    writeFileSync(join(dir, 'model-card.json'), JSON.stringify({ ...card, family: 'nope', threshold: undefined }));
    await expect(exportRunFolder(dir, { outFile: join(dir, 'model.onnx') })).rejects.toThrow(/family[\s\S]*threshold|threshold[\s\S]*family/);
  });
});
