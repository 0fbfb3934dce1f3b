/**
 * Feature-family benchmark (issue #15; not a unit test): for each family and dataset, train through
 * `trainModel`, export through `convertTrainedModel` (float32 and fp16 storage), score the test set with
 * runtime-node from the exported file, and report what the targets are stated in.
 *
 *   npm run bench:features -w apps/cli -- [--datasets casting,magnetic_tile] [--families dfr-mobilenet,dfr-resnet50,patchcore]
 *       [--train-images 0 | casting=700,magnetic_tile=0] [--test-stride 1] [--epochs N] [--speed-images 32] [--threads 2] [--local-window K] [--out bench-results/feature-families.json]
 *
 * Families: dfr-mobilenet (DFR on the TF.js MobileNet v1 of ../shared/backbones, the baseline),
 * dfr-resnet50 (DFR on the cached ResNet-50 ONNX backbone), patchcore (PatchCore defaults, ResNet-50).
 * Datasets: casting (train/ok_front; test with EXCLUDE_test.txt applied), magnetic_tile (MVTec layout,
 * pixel masks). --train-images N trains on a seeded subset of N normal images (0 = all); --test-stride k
 * scores every k-th test image (both say so in the JSON). Per result: image AUROC, recall at 1 % / 5 %
 * false alarms, pixel AUROC + AUPRO (FPR <= 0.3, at the model's input size; magnetic_tile), training
 * seconds, runtime-node images/s (CPU, --threads, decoded files in, verdicts out), file bytes and sha256
 * of the float32 and fp16-storage files, the largest relative fp16 score difference (on every 4th scored test image), the settings.
 * DFR epochs: --epochs for both DFR families, else DEFAULT_EPOCHS (ResNet-50: 5, each epoch ~1.5 min on one wasm thread).
 * The JSON is rewritten after every result, so a run stopped early keeps what it finished.
 * Needs ../shared (fails clearly without it) and, for ResNet-50, the backbone cache (fetched on first use).
 */
import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMask, readExclusionList, readFolderDataset, readMvtec, type FileDatasetItem } from '@residuum/imaging';
import { convertTrainedModel, getBackbone, readBackboneOnnx } from '@residuum/onnx-converter';
import { createNodeInspector } from '@residuum/runtime-node';
import { aupro, auroc, createSeededRandom, pixelAuroc, recallAtFalseAlarmRate, type SegmentationSample } from '@residuum/scoring';
import { PATCHCORE_DEFAULTS, RESNET50_DFR_TAPS, trainModel, type OnnxBackboneSpec, type TrainModelOptions } from '@residuum/train';
import { readRunFolder } from '@residuum/train/run-folder';

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const datasetsDir = resolve(appDir, '../../../shared/datasets');
const FAMILIES = ['dfr-mobilenet', 'dfr-resnet50', 'patchcore'] as const;
type Family = (typeof FAMILIES)[number];
const DATASETS = ['casting', 'magnetic_tile'] as const;
type DatasetName = (typeof DATASETS)[number];
const FP16_STRIDE = 4;
/**
 * DFR epochs without --epochs. ResNet-50: an epoch over 65,536 vectors of 1792 channels takes ~85 s on
 * one wasm thread at the capped latent (244), so 5 keep training on the 700 magnetic_tile images under
 * the 15 minutes on 2 cores; the MobileNet head (912 channels) is cheaper per epoch.
 */
const DEFAULT_EPOCHS: Readonly<Record<Exclude<Family, 'patchcore'>, number>> = { 'dfr-mobilenet': 10, 'dfr-resnet50': 5 };

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

function listArgument<T extends string>(name: string, allowed: readonly T[]): T[] {
  const values = argument(name, allowed.join(',')).split(',').filter(Boolean);
  for (const value of values) if (!allowed.includes(value as T)) throw new Error(`--${name}: ${value} is not one of ${allowed.join(', ')}`);
  return values as T[];
}

function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const next = createSeededRandom(seed);
  const copy = items.slice();
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

interface DatasetPlan {
  name: DatasetName;
  root: string;
  layout: 'folder' | 'mvtec';
  normalDir: string;
  test: FileDatasetItem[];
}

async function datasetPlan(name: DatasetName, testStride: number): Promise<DatasetPlan> {
  const root = join(datasetsDir, name);
  await access(root).catch(() => {
    throw new Error(`the feature-family benchmark needs ${root} (../shared next to the repo)`);
  });
  const dataset =
    name === 'casting'
      ? await readFolderDataset(root, {
          trainNormalDirs: ['train/ok_front'],
          testNormalDirs: ['test/ok_front'],
          testAnomalyDirs: ['test/def_front'],
          exclude: await readExclusionList(join(root, 'EXCLUDE_test.txt')),
        })
      : await readMvtec(root);
  const test = (dataset.items.filter((item) => item.split === 'test') as FileDatasetItem[]).filter((_, i) => i % testStride === 0);
  return { name, root, layout: name === 'casting' ? 'folder' : 'mvtec', normalDir: name === 'casting' ? 'train/ok_front' : 'train/good', test };
}

/** The dataset as the trainer sees it: all normal training images, or a seeded subset of them as symlinks. */
async function trainingFolder(plan: DatasetPlan, count: number): Promise<{ dir: string; images: number; cleanup: () => Promise<void> }> {
  const all = (await readdir(join(plan.root, plan.normalDir))).sort();
  if (count <= 0 || count >= all.length) return { dir: plan.root, images: all.length, cleanup: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), `residuum-bench-${plan.name}-`));
  await mkdir(join(dir, plan.normalDir), { recursive: true });
  for (const file of seededShuffle(all, 42).slice(0, count)) await symlink(join(plan.root, plan.normalDir, file), join(dir, plan.normalDir, file));
  if (plan.layout === 'mvtec') for (const folder of ['test', 'ground_truth']) await symlink(join(plan.root, folder), join(dir, folder));
  return { dir, images: count, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

async function resnet50(size: number, taps: readonly string[]): Promise<OnnxBackboneSpec> {
  const backbone = await getBackbone('resnet50', { size, onProgress: (m) => console.error(`backbone: ${m}`) });
  const { width: _width, height: _height, ...preprocessing } = backbone.manifest.preprocessing;
  return { onnxPath: backbone.onnxPath, taps: [...taps], preprocessing, name: 'resnet50' };
}

function trainingOptions(family: Family, common: { out: string; data: string; layout: 'folder' | 'mvtec'; normalDir: string[]; seed: number; quiet: boolean; command: string }, epochs: number, backbone?: OnnxBackboneSpec, localWindow?: number): TrainModelOptions {
  const size = 224;
  switch (family) {
    case 'dfr-mobilenet':
      return { ...common, model: 'dfr', size, channels: 3, epochs, backend: 'wasm' };
    case 'dfr-resnet50':
      return { ...common, model: 'dfr', size, channels: 3, epochs, backend: 'wasm', backbone };
    case 'patchcore':
      return { ...common, model: 'patchcore', size, backend: 'wasm', backbone: backbone as OnnxBackboneSpec, ...(localWindow !== undefined ? { localWindow } : {}) };
  }
}

/** DFR's one-time feature extraction and PCA (the recipe's `extra`), when present. */
function featureSeconds(extra: unknown): { featureSeconds?: number; pcaSeconds?: number } {
  const { featureMs, pcaMs } = (extra ?? {}) as { featureMs?: unknown; pcaMs?: unknown };
  return typeof featureMs === 'number' && typeof pcaMs === 'number' ? { featureSeconds: round(featureMs / 1000, 1), pcaSeconds: round(pcaMs / 1000, 1) } : {};
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const round = (value: number, digits = 4): number => Number(value.toFixed(digits));

interface Scored {
  scores: number[];
  labels: Array<0 | 1>;
  samples: SegmentationSample[];
  imagesPerSecond: number;
  /** Process CPU seconds (all threads) per image of the timed pass: a shared machine's load does not inflate it. */
  cpuSecondsPerImage: number;
}

async function scoreFile(bytes: Uint8Array, plan: DatasetPlan, threads: number, withMaps: boolean): Promise<Scored> {
  const inspector = await createNodeInspector(bytes, { provider: 'cpu', threads, batchSize: 8 });
  try {
    const [, , height, width] = inspector.card.input.shape as [unknown, number, number, number];
    const resize = inspector.card.preprocessing.resize;
    await inspector.inspect(plan.test.slice(0, 8).map((item) => item.path)); // warm-up
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    const results = await inspector.inspect(plan.test.map((item) => item.path), { returnMaps: withMaps });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuOf = (since: NodeJS.CpuUsage): number => {
      const used = process.cpuUsage(since);
      return (used.user + used.system) / 1e6;
    };
    let cpuSecondsPerImage = cpuOf(cpuBefore) / results.length;
    const scores: number[] = [];
    const labels: Array<0 | 1> = [];
    const samples: SegmentationSample[] = [];
    for (let i = 0; i < results.length; i++) {
      const result = results[i];
      if (!result.ok) throw new Error(`${plan.test[i].path}: ${result.error}`);
      scores.push(result.score);
      labels.push(plan.test[i].label as 0 | 1);
      if (withMaps && result.map) {
        const item = plan.test[i];
        const mask = item.maskPath ? await loadMask(item.maskPath, result.map.width, result.map.height, { resize }) : new Uint8Array(result.map.width * result.map.height);
        samples.push({ map: result.map.data, mask, width: result.map.width, height: result.map.height });
      }
    }
    if (withMaps && samples.length > 0 && (samples[0].width !== width || samples[0].height !== height)) console.error(`note: maps are ${samples[0].width}x${samples[0].height}, input ${width}x${height}`);
    // Throughput without maps is what a line runs; time the plain pass on a bounded slice when maps were asked.
    let imagesPerSecond = results.length / seconds;
    if (withMaps) {
      const slice = plan.test.slice(0, Math.min(plan.test.length, Number(argument('speed-images', '32')))).map((item) => item.path);
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await inspector.inspect(slice);
      imagesPerSecond = slice.length / (Number(process.hrtime.bigint() - t0) / 1e9);
      cpuSecondsPerImage = cpuOf(cpu0) / slice.length;
    }
    return { scores, labels, samples, imagesPerSecond, cpuSecondsPerImage };
  } finally {
    await inspector.dispose();
  }
}

async function main(): Promise<void> {
  const datasets = listArgument('datasets', DATASETS);
  const families = listArgument('families', FAMILIES);
  // --train-images N for every dataset, or per dataset: casting=700,magnetic_tile=0.
  const trainImagesText = argument('train-images', '0');
  const trainImagesFor = (name: DatasetName): number => {
    const entry = trainImagesText.split(',').find((part) => part.startsWith(`${name}=`));
    return Number(entry ? entry.slice(name.length + 1) : trainImagesText.includes('=') ? '0' : trainImagesText);
  };
  const testStride = Number(argument('test-stride', '1'));
  const epochsText = argument('epochs', '');
  const epochsOf = (family: Family): number | undefined => (family === 'patchcore' ? undefined : epochsText === '' ? DEFAULT_EPOCHS[family] : Number(epochsText));
  const threads = Number(argument('threads', '2'));
  // --local-window K: PatchCore's local averaging window (default: the family's).
  const localWindowText = argument('local-window', '');
  const localWindow = localWindowText === '' ? undefined : Number(localWindowText);
  const outFile = resolve(appDir, argument('out', 'bench-results/feature-families.json'));
  const workDir = argument('work', join(tmpdir(), 'residuum-feature-families'));
  for (const [name, value] of [...datasets.map((d) => ['train-images', trainImagesFor(d)] as const), ['test-stride', testStride], ['epochs', epochsText === '' ? 1 : Number(epochsText)], ['threads', threads]] as const) {
    if (!Number.isInteger(value) || value < (name === 'train-images' ? 0 : 1)) throw new Error(`--${name} must be an integer >= ${name === 'train-images' ? 0 : 1}, got ${value}`);
  }
  await mkdir(dirname(outFile), { recursive: true });
  const command = `npm run bench:features -w apps/cli -- ${process.argv.slice(2).join(' ')}`.trim();
  const report = { benchmark: 'feature-families', command, startedAt: new Date().toISOString(), loadAverageBefore: loadavg(), results: [] as unknown[], failures: [] as unknown[] };
  const save = (): Promise<void> => writeFile(outFile, JSON.stringify({ ...report, loadAverageNow: loadavg() }, null, 2) + '\n');

  const plans = new Map<DatasetName, DatasetPlan>();
  for (const name of datasets) plans.set(name, await datasetPlan(name, testStride));
  // Family-major: the newest families' figures come first when a run has to stop early.
  for (const family of families) {
    for (const name of datasets) {
      const plan = plans.get(name) as DatasetPlan;
      const runDir = join(workDir, `${family}-${name}`);
      await rm(runDir, { recursive: true, force: true });
      await mkdir(workDir, { recursive: true });
      const folder = await trainingFolder(plan, trainImagesFor(name));
      try {
        const backbone = family === 'dfr-mobilenet' ? undefined : await resnet50(224, family === 'patchcore' ? PATCHCORE_DEFAULTS.layers : RESNET50_DFR_TAPS);
        console.error(`${family} on ${name}: training on ${folder.images} images`);
        const trainStart = Date.now();
        const trained = await trainModel(trainingOptions(family, { out: runDir, data: folder.dir, layout: plan.layout, normalDir: [plan.normalDir], seed: 42, quiet: true, command }, epochsOf(family) ?? 1, backbone, localWindow));
        const trainSeconds = (Date.now() - trainStart) / 1000;
        if (!trained.completed || !trained.card) throw new Error(`training stopped: ${trained.reason ?? 'no card'}`);
        const run = await readRunFolder(runDir);
        const backboneOnnx = run.backbone ? await readBackboneOnnx(run.backbone) : undefined;
        const fp32 = convertTrainedModel(run, { backboneOnnx }).onnx;
        const fp16 = convertTrainedModel(run, { backboneOnnx, fp16: true }).onnx;
        await writeFile(join(runDir, 'model.onnx'), fp32);
        await writeFile(join(runDir, 'model-fp16.onnx'), fp16);
        console.error(`${family} on ${name}: trained in ${trainSeconds.toFixed(0)} s, scoring ${plan.test.length} test images`);
        const withMaps = name === 'magnetic_tile';
        const scored = await scoreFile(fp32, plan, threads, withMaps);
        // fp16 storage against float32 on every FP16_STRIDE-th scored test image (both classes).
        const fp16Indices = plan.test.map((_, i) => i).filter((i) => i % FP16_STRIDE === 0);
        const scored16 = await scoreFile(fp16, { ...plan, test: fp16Indices.map((i) => plan.test[i]) }, threads, false);
        let fp16Relative = 0;
        let verdictFlips = 0;
        const threshold = trained.card.threshold.value;
        fp16Indices.forEach((i, j) => {
          const s = scored.scores[i];
          fp16Relative = Math.max(fp16Relative, Math.abs(scored16.scores[j] - s) / Math.max(Math.abs(s), 1e-12));
          if (s >= threshold !== scored16.scores[j] >= threshold) verdictFlips++;
        });
        const result = {
          family,
          dataset: name,
          trainImages: folder.images,
          testImages: { total: scored.labels.length, normal: scored.labels.filter((l) => l === 0).length, anomalous: scored.labels.filter((l) => l === 1).length, stride: testStride },
          imageAuroc: round(auroc(scored.scores, scored.labels)),
          recallAt1PctFalseAlarms: round(recallAtFalseAlarmRate(scored.scores, scored.labels, 0.01).recall),
          recallAt5PctFalseAlarms: round(recallAtFalseAlarmRate(scored.scores, scored.labels, 0.05).recall),
          ...(withMaps ? { pixelAuroc: round(pixelAuroc(scored.samples)), aupro30: round(aupro(scored.samples, 0.3)), pixelMetricsAt: `${scored.samples[0].width}x${scored.samples[0].height} (model input)` } : {}),
          trainSeconds: round(trainSeconds, 1),
          trainEpochSeconds: trained.epochs.map((e) => round(e.seconds, 1)),
          ...featureSeconds(trained.extra),
          inferenceImagesPerSecond: round(scored.imagesPerSecond, 2),
          inferenceCpuSecondsPerImage: round(scored.cpuSecondsPerImage, 4),
          inference: `runtime-node CPU, ${threads} threads, batch 8, files decoded and preprocessed in the loop`,
          fp32: { bytes: fp32.byteLength, sha256: sha256(fp32) },
          fp16: { bytes: fp16.byteLength, sha256: sha256(fp16), comparedImages: fp16Indices.length, maxRelativeScoreDifference: Number(fp16Relative.toExponential(2)), verdictFlips, imagesPerSecond: round(scored16.imagesPerSecond, 2), cpuSecondsPerImage: round(scored16.cpuSecondsPerImage, 4) },
          settings: { card: { preprocessing: trained.card.preprocessing, score: trained.card.score, threshold: trained.card.threshold, extras: trained.card.extras }, epochs: epochsOf(family) },
          loadAverage: loadavg().map((v) => round(v, 2)),
          at: new Date().toISOString(),
        };
        report.results.push(result);
        console.log(JSON.stringify(result));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        console.error(`${family} on ${name} failed: ${message}`);
        report.failures.push({ family, dataset: name, error: message });
      } finally {
        await folder.cleanup();
        await save();
      }
    }
  }
  await save();
  console.error(`wrote ${outFile}`);
  if (report.failures.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
