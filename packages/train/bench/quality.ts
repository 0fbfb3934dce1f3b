/**
 * Quality benchmark (not a unit test): trains a model on casting train/ok_front and reports the
 * test image AUROC (test/ok_front minus EXCLUDE_test.txt vs test/def_front) with @residuum/scoring.
 *
 *   npx tsx bench/quality.ts [--model cae] [--size 64] [--epochs 3] [--max-steps N] [--batch 16] [--workers N] [--loss mse|l1|ssim] [--eval-only]
 *
 * Besides the card's score it reports the AUROC of a few alternative ScoreSpecs on the same reconstructions.
 * --eval-only re-scores the existing run folder without training.
 *
 * Writes bench-results/quality-<model>-<size>.json and prints it. Needs ../shared (fails clearly without it).
 */
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batches, readExclusionList, readFolderDataset } from '@residuum/imaging';
import * as tf from '@tensorflow/tfjs';
import { anomalyMap, auroc, averagePrecision, confusionAtThreshold, imageScore, type ScoreSpec } from '@residuum/scoring';
import { loadModelFromDir } from '../src/training/model-io.js';
import { readRunCard, readRunHistory } from '../src/run-folder/index.js';
import { train, type TrainOptions, type TrainResult } from '../src/families/autoencoder/train.js';
import { initBackend } from '../src/backend/index.js';
import type { ReconstructionLoss } from '../src/losses/losses.js';
import type { TrainableFamily } from '../src/families/autoencoder/spec.js';

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const castingRoot = fileURLToPath(new URL('../../../../shared/datasets/casting', import.meta.url));

async function main(): Promise<void> {
  await access(castingRoot).catch(() => {
    throw new Error(`the quality benchmark needs the casting dataset at ${castingRoot} (../shared from the repo root)`);
  });
  const model = argument('model', 'cae') as TrainableFamily;
  const size = Number(argument('size', '64'));
  const epochs = Number(argument('epochs', '3'));
  const maxSteps = argument('max-steps', '');
  const batch = Number(argument('batch', '16'));
  const workers = Number(argument('workers', '0'));
  const loss = argument('loss', 'mse') as ReconstructionLoss;
  const runDir = join(packageDir, 'bench-results', `run-quality-${model}-${size}-${loss}`);
  const evalOnly = process.argv.includes('--eval-only');
  if (!evalOnly) await rm(runDir, { recursive: true, force: true });
  await mkdir(join(packageDir, 'bench-results'), { recursive: true });
  const loadBefore = loadavg();

  const options: TrainOptions = {
    model,
    data: castingRoot,
    layout: 'folder',
    normalDir: ['train/ok_front'],
    size,
    channels: 1,
    epochs,
    batch,
    seed: 42,
    out: runDir,
    backend: 'auto',
    workers,
    loss,
    command: `npx tsx bench/quality.ts ${process.argv.slice(2).join(' ')}`.trim(),
    ...(maxSteps !== '' ? { maxStepsPerEpoch: Number(maxSteps) } : {}),
  };
  let result: Pick<TrainResult, 'epochsRun' | 'backend' | 'bestValLoss' | 'history' | 'timings'>;
  if (evalOnly) {
    const history = await readRunHistory(runDir);
    if (history === undefined) throw new Error(`${runDir} has no history: train it first`);
    const selection = await initBackend('auto');
    result = {
      epochsRun: history.epochs.length,
      backend: selection.backend,
      bestValLoss: history.bestValLoss ?? Number.NaN,
      history: history.epochs.map((e) => ({ epoch: e.epoch, loss: e.loss, valLoss: e.valLoss ?? Number.NaN, learningRate: e.learningRate ?? Number.NaN, seconds: e.seconds, images: e.images ?? 0 })),
      timings: { totalMs: 0, trainMs: 0, calibrationMs: 0, imagesPerSecond: 0 },
    };
  } else {
    const trained = await train(options);
    if (!trained.completed) throw new Error('training was interrupted');
    result = trained;
  }

  const card = await readRunCard(runDir);
  if (card === undefined) throw new Error(`${runDir} has no model card`);
  const exclude = await readExclusionList(join(castingRoot, 'EXCLUDE_test.txt'));
  const dataset = await readFolderDataset(castingRoot, {
    trainNormalDirs: ['train/ok_front'],
    testNormalDirs: ['test/ok_front'],
    testAnomalyDirs: ['test/def_front'],
    exclude,
  });
  const testItems = dataset.items.filter((item) => item.split === 'test');
  const labels = testItems.map((item) => item.label);
  const trained = await loadModelFromDir(runDir);
  const scoreStart = Date.now();
  // Reconstruct every test image once, then score it with the card's ScoreSpec and a few alternatives.
  const pairs: Array<{ input: Float32Array; reconstruction: Float32Array }> = [];
  for await (const b of batches(testItems, card.preprocessing, { batchSize: 32, layout: 'NHWC' })) {
    const x = tf.tensor4d(b.tensors, [b.items.length, size, size, 1]);
    const out = trained.predict(x) as tf.Tensor | tf.Tensor[];
    const recon = (Array.isArray(out) ? out[0] : out).dataSync() as Float32Array;
    const imageSize = size * size;
    for (let i = 0; i < b.items.length; i++) {
      pairs.push({ input: b.tensors.slice(i * imageSize, (i + 1) * imageSize), reconstruction: recon.slice(i * imageSize, (i + 1) * imageSize) });
    }
    tf.dispose([x, out]);
  }
  const scoreWith = (spec: ScoreSpec): number[] => pairs.map((p) => imageScore(anomalyMap(p.input, p.reconstruction, 1, size, size, spec.map), spec.image));
  const scores = scoreWith(card.score);
  const scoreSeconds = (Date.now() - scoreStart) / 1000;
  const atThreshold = confusionAtThreshold(scores, labels, card.threshold.value);
  const variants: Record<string, ScoreSpec> = {
    'squared/mean (MSE)': { map: { kind: 'squared', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean' } },
    'squared, smoothed 2px/max': { map: { kind: 'squared', channelReduction: 'mean', smoothingSigma: 2 }, image: { kind: 'max' } },
    'squared/top-1%-mean': { map: { kind: 'squared', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'top-k-mean', topKFraction: 0.01 } },
    'absolute/mean': { map: { kind: 'absolute', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean' } },
    '1-ssim/mean': { map: { kind: 'ssim', channelReduction: 'mean', smoothingSigma: 0, ssimWindowSize: 11, ssimSigma: 1.5 }, image: { kind: 'mean' } },
    '1-ssim, smoothed 2px/max': { map: { kind: 'ssim', channelReduction: 'mean', smoothingSigma: 2, ssimWindowSize: 11, ssimSigma: 1.5 }, image: { kind: 'max' } },
  };
  const variantAuroc = Object.fromEntries(Object.entries(variants).map(([name, spec]) => [name, auroc(scoreWith(spec), labels)]));

  const report = {
    benchmark: 'casting image AUROC',
    model,
    loss,
    size,
    epochsRequested: epochs,
    epochsRun: result.epochsRun,
    evalOnly,
    maxStepsPerEpoch: maxSteps === '' ? null : Number(maxSteps),
    batch,
    workers,
    backend: result.backend,
    test: { normal: labels.filter((l) => l === 0).length, anomalous: labels.filter((l) => l === 1).length, excluded: exclude.length },
    imageAuroc: auroc(scores, labels),
    cardScore: card.score,
    aurocByScore: variantAuroc,
    averagePrecision: averagePrecision(scores, labels),
    atCardThreshold: { ...atThreshold, method: card.threshold.method },
    bestValLoss: result.bestValLoss,
    history: result.history,
    timings: { trainSeconds: result.timings.trainMs / 1000, trainImagesPerSecond: result.timings.imagesPerSecond, testScoringSeconds: scoreSeconds },
    loadavg: { before: loadBefore, after: loadavg() },
    date: new Date().toISOString(),
    command: options.command,
  };
  const file = join(packageDir, "bench-results", `quality-${model}-${size}-${loss}${evalOnly ? '-eval' : ''}.json`);
  await writeFile(file, JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report, null, 2));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
