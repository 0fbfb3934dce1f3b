/**
 * First real run of DFR on ResNet-50 (library level, until `residuum train --backbone resnet50` exists):
 * getBackbone('resnet50') -> trainDfr with the ONNX backbone on the first N good images of a folder
 * dataset -> run folder (head + backbone.json), then `residuum export` splices it into one file.
 *
 *   npx tsx --conditions=@residuum/source tools/onnx-converter/bench/dfr-resnet50-smoke.ts \
 *     ../shared/datasets/casting train/ok_front 300 /tmp/runs/dfr-r50 [epochs=4] [maxTrainVectors=16384]
 */
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RESNET50_DFR_TAPS, trainDfr } from '@residuum/train';
import { getBackbone } from '../src/index.js';

const [data, normalDir, limitText, out, epochsText = '4', vectorsText = '16384'] = process.argv.slice(2);
if (!data || !normalDir || !limitText || !out) {
  console.error('usage: dfr-resnet50-smoke.ts DATA NORMAL_DIR IMAGES OUT [EPOCHS] [MAX_TRAIN_VECTORS]');
  process.exit(2);
}
const backbone = await getBackbone('resnet50', { onProgress: (m) => console.error(`backbone: ${m}`) });
const { width: _width, height: _height, ...preprocessing } = backbone.manifest.preprocessing;

// The first IMAGES files (sorted) of NORMAL_DIR, as symlinks in a temporary dataset folder.
const subset = await mkdtemp(join(tmpdir(), 'residuum-dfr-r50-'));
const files = (await readdir(resolve(data, normalDir))).sort().slice(0, Number(limitText));
await mkdir(join(subset, normalDir), { recursive: true });
for (const file of files) await symlink(resolve(data, normalDir, file), join(subset, normalDir, file));
try {
  const result = await trainDfr({
    out,
    data: subset,
    layout: 'folder',
    normalDir: [normalDir],
    size: backbone.manifest.input.shape[2],
    channels: 3,
    epochs: Number(epochsText),
    maxTrainVectors: Number(vectorsText),
    backend: 'wasm',
    seed: 1,
    backbone: { onnxPath: backbone.onnxPath, taps: [...RESNET50_DFR_TAPS], preprocessing, name: 'resnet50' },
  });
  console.log(JSON.stringify({ images: files.length, timings: result.timings, latentWidth: result.latentWidth, shape: result.shape }, null, 2));
} finally {
  await rm(subset, { recursive: true, force: true });
}
