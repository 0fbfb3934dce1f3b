/**
 * Quality benchmark (not a unit test): trains a model on casting train/ok_front and reports the
 * test image AUROC (test/ok_front minus EXCLUDE_test.txt vs test/def_front) with @residuum/scoring.
 *
 *   npx tsx bench/quality.ts [--model cae] [--size 64] [--epochs 3] [--max-steps N] [--batch 16] [--workers N]
 *
 * Writes bench-results/quality-<model>-<size>.json and prints it. Needs ../shared (fails clearly without it).
 */
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batches, readExclusionList, readFolderDataset } from '@residuum/imaging';
import { auroc, averagePrecision, confusionAtThreshold, type ModelCard } from '@residuum/scoring';
import { readFile } from 'node:fs/promises';
import { scoreImages } from '../src/training/calibration.js';
import { loadModelFromDir } from '../src/training/model-io.js';
import { train, type TrainOptions } from '../src/training/train.js';
import type { TrainableFamily } from '../src/models/spec.js';

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
  const runDir = join(packageDir, 'bench-results', `run-quality-${model}-${size}`);
  await rm(runDir, { recursive: true, force: true });
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
    command: `npx tsx bench/quality.ts ${process.argv.slice(2).join(' ')}`.trim(),
    ...(maxSteps !== '' ? { maxStepsPerEpoch: Number(maxSteps) } : {}),
  };
  const result = await train(options);
  if (!result.completed) throw new Error('training was interrupted');

  const card = JSON.parse(await readFile(join(runDir, 'model-card.json'), 'utf8')) as ModelCard;
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
  const stream = batches(testItems, card.preprocessing, { batchSize: 32, layout: 'NHWC' });
  const nhwc = (async function* () {
    for await (const b of stream) yield { data: b.tensors, count: b.items.length };
  })();
  const scores = await scoreImages(trained, nhwc, { height: size, width: size, channels: 1 }, card.score);
  const scoreSeconds = (Date.now() - scoreStart) / 1000;
  const atThreshold = confusionAtThreshold(scores, labels, card.threshold.value);

  const report = {
    benchmark: 'casting image AUROC',
    model,
    size,
    epochsRequested: epochs,
    epochsRun: result.epochsRun,
    maxStepsPerEpoch: maxSteps === '' ? null : Number(maxSteps),
    batch,
    workers,
    backend: result.backend,
    test: { normal: labels.filter((l) => l === 0).length, anomalous: labels.filter((l) => l === 1).length, excluded: exclude.length },
    imageAuroc: auroc(scores, labels),
    averagePrecision: averagePrecision(scores, labels),
    atCardThreshold: { ...atThreshold, method: card.threshold.method },
    bestValLoss: result.bestValLoss,
    history: result.history,
    timings: { trainSeconds: result.timings.trainMs / 1000, trainImagesPerSecond: result.timings.imagesPerSecond, testScoringSeconds: scoreSeconds },
    loadavg: { before: loadBefore, after: loadavg() },
    date: new Date().toISOString(),
    command: options.command,
  };
  const file = join(packageDir, 'bench-results', `quality-${model}-${size}.json`);
  await writeFile(file, JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report, null, 2));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
