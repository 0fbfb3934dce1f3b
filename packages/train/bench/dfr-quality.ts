/**
 * DFR quality benchmark (not a unit test): trains DFR on the normal training images of a dataset and
 * reports the test metrics through @residuum/scoring.
 *
 *   npx tsx --conditions=@residuum/source bench/dfr-quality.ts --dataset casting [--size 224] [--train-images 400]
 *       [--epochs 10] [--max-vectors 40000] [--channels 3] [--score mean|max|top-k] [--backend auto]
 *   npx tsx --conditions=@residuum/source bench/dfr-quality.ts --dataset magnetic_tile ...
 *
 * casting: image AUROC on test/ok_front (minus EXCLUDE_test.txt) vs test/def_front.
 * magnetic_tile (MVTec layout): image AUROC, pixel AUROC and AUPRO (FPR <= 0.3) with the ground-truth masks.
 * --train-images takes a seeded subset of the training folder (the machine is small); 0 = all.
 * Writes bench-results/dfr-<dataset>-<size>.json and prints it. Needs ../shared (fails clearly without it).
 */
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batches, fingerprintFiles, readExclusionList, readFolderDataset, readMvtec, type FileDatasetItem } from '@residuum/imaging';
import { aupro, auroc, averagePrecision, pixelAuroc, type ImageScoreSpec, type PreprocessingSpec, type SegmentationSample } from '@residuum/scoring';
import { createRandom, shuffled } from '../src/random.js';
import type { NhwcBatch, TrainingDataSource } from '../src/training/data.js';
import { loadModelFromDir } from '../src/training/model-io.js';
import { DEFAULT_BACKBONE, dfrPreprocessing, scoreDfrBatches, trainDfr, type BackboneSpec } from '../src/families/dfr/index.js';
import type { BackendRequest } from '../src/backend/index.js';

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
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

async function main(): Promise<void> {
  const datasetName = argument('dataset', 'casting');
  if (datasetName !== 'casting' && datasetName !== 'magnetic_tile') throw new Error(`--dataset must be casting or magnetic_tile, got ${datasetName}`);
  const root = join(sharedDir, 'datasets', datasetName);
  await access(root).catch(() => {
    throw new Error(`the DFR benchmark needs ${root} (../shared from the repo root)`);
  });
  const size = Number(argument('size', '224'));
  const channels = Number(argument('channels', datasetName === 'casting' ? '3' : '1')) as 1 | 3;
  const trainImages = Number(argument('train-images', '400'));
  const epochs = Number(argument('epochs', '10'));
  const maxVectors = Number(argument('max-vectors', '40000'));
  const scoreKind = argument('score', 'mean');
  const backend = argument('backend', 'auto') as BackendRequest;
  const backboneDir = argument('backbone', '');
  const backbone: BackboneSpec = backboneDir === '' ? DEFAULT_BACKBONE : { ...DEFAULT_BACKBONE, dir: backboneDir, name: backboneDir.split('/').pop() };
  const imageScore: ImageScoreSpec = scoreKind === 'top-k' ? { kind: 'top-k-mean', topKFraction: 0.01 } : scoreKind === 'max' ? { kind: 'max' } : { kind: 'mean' };
  const spec = dfrPreprocessing(size, channels, backbone);
  const runDir = join(packageDir, 'bench-results', `run-dfr-${datasetName}-${size}`);
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
  const testItems = dataset.items.filter((item) => item.split === 'test');
  const source = subsetSource(trainItems, spec, trainImages, 0.1, 42, `${datasetName}: ${trainImages > 0 ? `seeded subset of ${trainImages} of` : 'all'} ${trainItems.length} normal training images`);

  const command = `npx tsx --conditions=@residuum/source bench/dfr-quality.ts ${process.argv.slice(2).join(' ')}`.trim();
  const trained = await trainDfr({ out: runDir, dataSource: source, size, channels, backbone, epochs, maxTrainVectors: maxVectors, imageScore, backend, seed: 42, command });
  const card = trained.card;
  if (card === undefined) throw new Error('DFR training was interrupted: no model card');
  const result = { ...trained, card };

  const model = await loadModelFromDir(runDir);
  const scoreStart = Date.now();
  const labels: number[] = [];
  const samples: SegmentationSample[] = [];
  const withMasks = datasetName === 'magnetic_tile';
  const masks: Array<Uint8Array | undefined> = [];
  const stream = (async function* () {
    for await (const b of batches(testItems, spec, { batchSize: 8, layout: 'NHWC', withMasks })) {
      for (const item of b.items) labels.push(item.label);
      if (withMasks) masks.push(...(b.masks ?? []));
      yield { data: b.tensors, count: b.items.length };
    }
  })();
  const scores = await scoreDfrBatches(model, stream, { ...result.shape }, result.card.score, (map, index) => {
    const mask = masks[index];
    if (withMasks && mask) samples.push({ map, mask, width: size, height: size });
  });
  const scoreSeconds = (Date.now() - scoreStart) / 1000;
  const report = {
    benchmark: `dfr-quality-${datasetName}`,
    command,
    dataset: datasetName,
    testImages: { total: labels.length, normal: labels.filter((l) => l === 0).length, anomalous: labels.filter((l) => l === 1).length },
    imageAuroc: auroc(scores, labels as Array<0 | 1>),
    averagePrecision: averagePrecision(scores, labels as Array<0 | 1>),
    ...(withMasks ? { pixelAuroc: pixelAuroc(samples), aupro30: aupro(samples, 0.3), segmentationImages: samples.length } : {}),
    model: {
      size,
      channels,
      backbone: backbone.name,
      taps: backbone.taps,
      featureGrid: result.shape.featureGrid,
      featureChannels: result.shape.featureChannels,
      latentWidth: result.latentWidth,
      pca: result.pca,
      imageScore,
      threshold: result.card.threshold.value,
      pixelThreshold: result.card.calibration.pixelThreshold,
    },
    training: { source: source.description, epochs, maxTrainVectors: maxVectors, bestEpoch: result.bestEpoch, history: result.history, backend: result.backend },
    timings: { ...result.timings, testScoringSeconds: scoreSeconds, testImagesPerSecond: labels.length / scoreSeconds },
    machine: { loadAverageBefore: loadBefore, loadAverageAfter: loadavg() },
  };
  const file = join(packageDir, 'bench-results', `dfr-${datasetName}-${size}.json`);
  await writeFile(file, JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report, null, 2));
  model.dispose();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
