/**
 * Throughput of the imaging pipeline on the real casting set (../shared): listing, decode only,
 * decode + preprocess through `batches`, and the training-data fingerprint.
 * Run: npm run bench -w packages/imaging   (writes bench-results/io.json and prints it)
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preprocessImage, type PreprocessingSpec } from '@residuum/scoring';
import { batches, decodeImage, fingerprintFiles, readFolderDataset, readMvtec } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const datasets = resolve(here, '../../../../shared/datasets');
if (!existsSync(datasets)) throw new Error(`benchmark data missing: ${datasets} (needs ../shared beside the repository)`);
const IMAGES = Number(process.env.BENCH_IMAGES ?? 400);

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await run();
  return { ms: performance.now() - start, value };
}

const casting = await timed(() =>
  readFolderDataset(join(datasets, 'casting'), { trainNormalDirs: ['train/ok_front'], testNormalDirs: ['test/ok_front'], testAnomalyDirs: ['test/def_front'] }),
);
const tile = await timed(() => readMvtec(join(datasets, 'magnetic_tile')));
const sample = casting.value.items.filter((i) => i.split === 'train').slice(0, IMAGES);

const grey128: PreprocessingSpec = { width: 128, height: 128, channels: 1, resize: 'fill', interpolation: 'bilinear', mean: [0.5], std: [0.5] };
const decodeOnly = await timed(async () => {
  for (const item of sample) await decodeImage(item.path);
});

const serialGrey128 = await timed(async () => {
  for (const item of sample) preprocessImage(await decodeImage(item.path), grey128);
});

async function stream(spec: PreprocessingSpec): Promise<number> {
  const result = await timed(async () => {
    let n = 0;
    for await (const batch of batches(sample, spec, { batchSize: 32, onError: 'skip' })) n += batch.items.length;
    return n;
  });
  if (result.value !== sample.length) throw new Error(`streamed ${result.value} of ${sample.length}`);
  return (sample.length / result.ms) * 1000;
}
const rgb224: PreprocessingSpec = { width: 224, height: 224, channels: 3, resize: 'center-crop', interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const greyPerSecond = await stream(grey128);
const rgbPerSecond = await stream(rgb224);

const trainItems = casting.value.items.filter((i) => i.split === 'train');
const fingerprint = await timed(() => fingerprintFiles(trainItems));

const results = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
  note: 'casting JPEG 300x300 (3 components); shared machine, other jobs may run at the same time',
  images: sample.length,
  listCastingMs: Math.round(casting.ms),
  listMagneticTileMs: Math.round(tile.ms),
  decodeOnlyImagesPerSecond: Math.round((sample.length / decodeOnly.ms) * 1000),
  serialDecodeThenPreprocessGrey128ImagesPerSecond: Math.round((sample.length / serialGrey128.ms) * 1000),
  batchesGrey128ImagesPerSecond: Math.round(greyPerSecond),
  batchesRgb224CenterCropImagesPerSecond: Math.round(rgbPerSecond),
  fingerprintCastingTrain: { files: trainItems.length, ms: Math.round(fingerprint.ms), sha256: fingerprint.value },
};
const out = join(here, '../bench-results');
await mkdir(out, { recursive: true });
await writeFile(join(out, 'io.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
