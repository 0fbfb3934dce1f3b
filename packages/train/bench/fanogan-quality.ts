/**
 * f-AnoGAN quality benchmark (not a unit test): trains the GAN + encoder on the normal training images of a
 * dataset (bounded: a seeded subset, few epochs; the machine has 2 shared cores) and reports test metrics
 * through @residuum/scoring, scoring exactly as the runtimes do (pixel squared residual mean + kappa * critic
 * feature residual).
 *
 *   npx tsx --conditions=@residuum/source bench/fanogan-quality.ts --dataset casting [--size 64] [--train-images 600]
 *       [--gan-epochs 10] [--encoder-epochs 5] [--max-generator-steps N] [--base 16] [--z 64] [--batch 32]
 *       [--n-critic 5] [--kappa 1] [--test-images N] [--backend auto] [--tag NAME]
 *       [--encoder-lr 1e-3] [--gan-from RUN_DIR (reuse that run's generator and critic, train the encoder only)]
 *   npx tsx --conditions=@residuum/source bench/fanogan-quality.ts --dataset magnetic_tile ...
 *
 * casting: image AUROC on test/ok_front (minus EXCLUDE_test.txt) vs test/def_front.
 * magnetic_tile (MVTec layout): image AUROC, pixel AUROC and AUPRO (FPR <= 0.3) with the ground-truth masks.
 * --test-images takes a seeded stratified subset of the test set (0 = all).
 * Writes bench-results/fanogan-<dataset>-<size>[-<tag>].json (+ the run folder with the per-epoch sample grids) and
 * prints it. Needs ../shared (fails clearly without it).
 */
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batches, fingerprintFiles, readExclusionList, readFolderDataset, readMvtec, type FileDatasetItem } from '@residuum/imaging';
import { aupro, auroc, averagePrecision, pixelAuroc, type PreprocessingSpec, type SegmentationSample } from '@residuum/scoring';
import { createRandom, shuffled } from '../src/random.js';
import type { NhwcBatch, TrainingDataSource } from '../src/training/data.js';
import { loadModelFromDir } from '../src/training/model-io.js';
import { fanoganPreprocessing, scoreFanoganBatches, trainFanogan } from '../src/families/fanogan/index.js';
import type { BackendRequest } from '../src/backend/index.js';

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}

function numberArgument(name: string, fallback: string): number {
  const value = Number(argument(name, fallback));
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number, got '${argument(name, fallback)}'`);
  return value;
}

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const sharedDir = fileURLToPath(new URL('../../../../shared', import.meta.url));

/** Normal training images of a dataset as a TrainingDataSource: a seeded subset, split train/validation. */
function subsetSource(items: FileDatasetItem[], spec: PreprocessingSpec, count: number, validationFraction: number, seed: number, description: string): TrainingDataSource {
  const chosen = shuffled(items, createRandom(seed)).slice(0, count > 0 ? count : items.length);
  const validationCount = Math.max(1, Math.round(chosen.length * validationFraction));
  const validation = chosen.slice(0, validationCount);
  const train = chosen.slice(validationCount);
  const stream = (list: FileDatasetItem[], batchSize: number): AsyncIterable<NhwcBatch> =>
    (async function* () {
      for await (const b of batches(list, spec, { batchSize, layout: 'NHWC' })) yield { data: b.tensors, count: b.items.length };
    })();
  return {
    description: `${description} (${train.length} train, ${validation.length} validation, seed ${seed})`,
    trainCount: train.length,
    validationCount: validation.length,
    fingerprint: () => fingerprintFiles(chosen),
    trainBatches: (batchSize, epoch) => stream(shuffled(train, createRandom(seed * 1000 + epoch)), batchSize),
    validationBatches: (batchSize) => stream(validation, batchSize),
    skipped: () => [],
  };
}

/** A seeded subset keeping the normal/anomalous proportions. */
function stratified(items: FileDatasetItem[], count: number, seed: number): FileDatasetItem[] {
  if (count <= 0 || count >= items.length) return items;
  const random = createRandom(seed);
  const normal = shuffled(items.filter((i) => i.label === 0), random);
  const anomalous = shuffled(items.filter((i) => i.label === 1), random);
  const normalCount = Math.round((count * normal.length) / items.length);
  return [...normal.slice(0, normalCount), ...anomalous.slice(0, count - normalCount)];
}

async function main(): Promise<void> {
  const datasetName = argument('dataset', 'casting');
  if (datasetName !== 'casting' && datasetName !== 'magnetic_tile') throw new Error(`--dataset must be casting or magnetic_tile, got ${datasetName}`);
  const root = join(sharedDir, 'datasets', datasetName);
  await access(root).catch(() => {
    throw new Error(`the f-AnoGAN benchmark needs ${root} (../shared from the repo root)`);
  });
  const size = numberArgument('size', '64');
  const channels = 1 as const;
  const trainImages = numberArgument('train-images', '600');
  const testImages = numberArgument('test-images', '0');
  const ganEpochs = numberArgument('gan-epochs', '10');
  const encoderEpochs = numberArgument('encoder-epochs', '5');
  const maxGeneratorSteps = argument('max-generator-steps', '') === '' ? undefined : numberArgument('max-generator-steps', '0');
  const baseFilters = numberArgument('base', '16');
  const zDim = numberArgument('z', '64');
  const batch = numberArgument('batch', '32');
  const nCritic = numberArgument('n-critic', '5');
  const kappa = numberArgument('kappa', '1');
  const encoderLearningRate = numberArgument('encoder-lr', '1e-3');
  const ganFrom = argument('gan-from', '');
  const backend = argument('backend', 'auto') as BackendRequest;
  const tag = argument('tag', '');
  if (!/^[a-z0-9-]*$/.test(tag)) throw new Error(`--tag must be lowercase letters, digits or '-', got '${tag}'`);
  const suffix = tag === '' ? '' : `-${tag}`;
  const spec = fanoganPreprocessing(size, channels);
  const runDir = join(packageDir, 'bench-results', `run-fanogan-${datasetName}-${size}${suffix}`);
  await rm(runDir, { recursive: true, force: true });
  await mkdir(join(packageDir, 'bench-results'), { recursive: true });
  const loadBefore = loadavg();

  const dataset =
    datasetName === 'casting'
      ? await readFolderDataset(root, {
          trainNormalDirs: ['train/ok_front'],
          testNormalDirs: ['test/ok_front'],
          testAnomalyDirs: ['test/def_front'],
          exclude: await readExclusionList(join(root, 'EXCLUDE_test.txt')),
        })
      : await readMvtec(root);
  const trainItems = dataset.items.filter((item) => item.split === 'train' && item.label === 0);
  const testItems = stratified(dataset.items.filter((item) => item.split === 'test'), testImages, 7);
  const source = subsetSource(trainItems, spec, trainImages, 0.1, 42, `${datasetName}: ${trainImages > 0 ? `seeded subset of ${trainImages} of` : 'all'} ${trainItems.length} normal training images`);

  const command = `npx tsx --conditions=@residuum/source bench/fanogan-quality.ts ${process.argv.slice(2).join(' ')}`.trim();
  const trained = await trainFanogan({
    out: runDir,
    dataSource: source,
    size,
    channels,
    zDim,
    baseFilters,
    ganEpochs,
    encoderEpochs,
    ...(maxGeneratorSteps !== undefined ? { maxGeneratorSteps } : {}),
    batch,
    nCritic,
    kappa,
    encoderLearningRate,
    ...(ganFrom !== '' ? { ganFrom } : {}),
    backend,
    seed: 42,
    command,
  });
  const card = trained.card;
  if (card === undefined) throw new Error('f-AnoGAN training was interrupted: no model card');
  const result = { ...trained, card };

  const model = await loadModelFromDir(runDir);
  const scoreStart = Date.now();
  const labels: number[] = [];
  const samples: SegmentationSample[] = [];
  const withMasks = datasetName === 'magnetic_tile';
  const masks: Array<Uint8Array | undefined> = [];
  const stream = (async function* () {
    for await (const b of batches(testItems, spec, { batchSize: 16, layout: 'NHWC', withMasks })) {
      for (const item of b.items) labels.push(item.label);
      if (withMasks) masks.push(...(b.masks ?? []));
      yield { data: b.tensors, count: b.items.length };
    }
  })();
  const scores = await scoreFanoganBatches(model, stream, result.architecture, result.card.score, (map, index) => {
    const mask = masks[index];
    if (withMasks && mask) samples.push({ map, mask, width: size, height: size });
  });
  const scoreSeconds = (Date.now() - scoreStart) / 1000;
  // The same test set scored by the pixel residual alone (kappa = 0), to show what the feature term adds.
  const pixelOnly = await scoreFanoganBatches(
    model,
    (async function* () {
      for await (const b of batches(testItems, spec, { batchSize: 16, layout: 'NHWC' })) yield { data: b.tensors, count: b.items.length };
    })(),
    result.architecture,
    { ...result.card.score, image: { ...result.card.score.image, kappa: 0 } },
  );
  const report = {
    benchmark: `fanogan-quality-${datasetName}`,
    command,
    dataset: datasetName,
    testImages: { total: labels.length, normal: labels.filter((l) => l === 0).length, anomalous: labels.filter((l) => l === 1).length, subset: testImages > 0 ? `seeded stratified ${testImages}` : 'all' },
    imageAuroc: auroc(scores, labels as Array<0 | 1>),
    averagePrecision: averagePrecision(scores, labels as Array<0 | 1>),
    imageAurocPixelResidualOnly: auroc(pixelOnly, labels as Array<0 | 1>),
    ...(withMasks ? { pixelAuroc: pixelAuroc(samples), aupro30: aupro(samples, 0.3), segmentationImages: samples.length } : {}),
    model: { architecture: result.architecture, score: result.card.score, threshold: result.card.threshold.value },
    stability: result.stability,
    training: {
      source: source.description,
      ganEpochs: result.gan.length,
      generatorSteps: result.gan[result.gan.length - 1].generatorSteps,
      encoderEpochs: result.encoder.length,
      batch,
      nCritic,
      backend: result.backend,
      gan: result.gan,
      encoder: result.encoder,
    },
    timings: { ...result.timings, testScoringSeconds: scoreSeconds, testImagesPerSecond: labels.length / scoreSeconds },
    machine: { loadAverageBefore: loadBefore, loadAverageAfter: loadavg() },
  };
  const file = join(packageDir, 'bench-results', `fanogan-${datasetName}-${size}${suffix}.json`);
  await writeFile(file, JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report, null, 2));
  model.dispose();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
