/**
 * PatchCore settings experiment (issue #15): which feature, bank and scoring settings reach the
 * quality targets on casting and magnetic_tile, at what search cost. Not a unit test, not the
 * family: a library-level sweep over features cached on disk so that each variant costs only the
 * coreset and the nearest-neighbour search.
 *
 * 1. extract: runs the cached ResNet-50 ONNX backbone (`residuum backbone get resnet50 --size S`)
 *    with onnxruntime-node over a seeded subset of the normal training images and the whole test set
 *    (casting: EXCLUDE_test.txt applied) and stores the raw taps per image as float16:
 *    layer1 (2x2-averaged onto the layer2 grid, 256), layer2 (512), layer3 (its own grid, 1024).
 *      npx tsx --conditions=@residuum/source bench/patchcore-settings.ts extract --dataset magnetic_tile --size 224 --resize fill [--train-images 700]
 *    --resize pad: aspect-preserving resize (longest side = S) centred on a mean-grey square.
 * 2. eval: builds PatchCore embeddings (local 3x3 averaging, layer3 bilinearly upsampled onto the
 *    layer2 grid, per-layer adaptive channel averaging to --dim), a greedy k-center bank
 *    (greedyCoreset, after a seeded per-image patch subsample of --presample patches in all), scores
 *    every test patch by its nearest bank entry (onnxruntime MatMul) and reports image AUROC, recall at
 *    1 % / 5 % false alarms for several image scores (max patch, PatchCore reweighting, top-1 % mean,
 *    max of the smoothed map) and, with masks, pixel AUROC and AUPRO (FPR <= 0.3) for several
 *    Gaussian sigmas. Maps are evaluated in the image's own geometry (pad removed), downscaled so
 *    that the longest side is at most 256 px.
 *      npx tsx --conditions=@residuum/source bench/patchcore-settings.ts eval --dataset magnetic_tile --size 224 --resize fill \
 *        [--layers 2,3] [--local 3|5|3+9] [--dim 256|full] [--bank 4000] [--presample 120000] [--train-images 0] [--sigmas 0,2,4] \
 *        [--holdout 70] [--dump maps.json]
 *    --local 3+9 concatenates one copy of every layer per window; --holdout N keeps the last N training
 *    images out of the bank (their maps go into the dump); --dump writes every test image's raw distance
 *    grid for `fuse`. Pixel metrics come per defect type too. The bank is cached next to the features.
 * 3. fuse A.json B.json: two dumped runs' maps, each standardized by its held-out good maps, combined.
 * Features and results live under $PATCHCORE_CACHE (default /tmp/i15q); each eval appends one JSON
 * line to results.jsonl there and prints it.
 */
import { appendFile, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { decodeImage, loadMask, readExclusionList, readFolderDataset, readMvtec, type FileDatasetItem } from '@residuum/imaging';
import { aupro, auroc, gaussianSmooth, pixelAuroc, preprocessImage, recallAtFalseAlarmRate, resizeMap, type PreprocessingSpec, type SegmentationSample } from '@residuum/scoring';
import { greedyCoreset } from '../src/families/patchcore/index.js';
import { PROJECTION_ONNX_BASE64 } from '../src/families/patchcore/kernels.generated.js';
import { createRandom, shuffled } from '../src/random.js';

const sharedDir = fileURLToPath(new URL('../../../../shared', import.meta.url));
const cacheRoot = process.env.PATCHCORE_CACHE ?? '/tmp/i15q';
const THREADS = 2;
const EVAL_MAX_SIDE = 256;
const L1 = 256;
const L2 = 512;
const L3 = 1024;

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}

// ---- float16 storage ----------------------------------------------------------------------------
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = ((x >>> 23) & 0xff) - 127 + 15;
  let mantissa = x & 0x7fffff;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    return sign | ((mantissa + (1 << (shift - 1))) >> shift);
  }
  if (exponent >= 31) return sign | 0x7c00;
  const rounded = (exponent << 10) | (mantissa >> 13);
  return sign | (rounded + ((mantissa >> 12) & 1));
}
const HALF_TO_FLOAT = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    table[h] = exponent === 0 ? sign * 2 ** -14 * (mantissa / 1024) : exponent === 31 ? sign * Infinity : sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
  }
  return table;
})();

// ---- datasets -----------------------------------------------------------------------------------
interface StoredItem {
  relPath: string;
  path: string;
  label: 0 | 1;
  maskPath?: string;
  defectType?: string;
  width: number;
  height: number;
  /** Where the image lies in the S x S input (the whole square for 'fill'). */
  box: { x: number; y: number; width: number; height: number };
}

async function datasetItems(name: string, trainImages: number, testStride = 1): Promise<{ train: FileDatasetItem[]; test: FileDatasetItem[] }> {
  const root = join(sharedDir, 'datasets', name);
  const dataset =
    name === 'casting'
      ? await readFolderDataset(root, {
          trainNormalDirs: ['train/ok_front'],
          testNormalDirs: ['test/ok_front'],
          testAnomalyDirs: ['test/def_front'],
          exclude: await readExclusionList(join(root, 'EXCLUDE_test.txt')),
        })
      : await readMvtec(root);
  const normal = dataset.items.filter((item) => item.split === 'train' && item.label === 0) as FileDatasetItem[];
  const train = shuffled(normal, createRandom(42)).slice(0, trainImages > 0 ? trainImages : normal.length);
  const test = dataset.items.filter((item) => item.split === 'test') as FileDatasetItem[];
  return { train, test: test.filter((_, i) => i % testStride === 0) };
}

function folderOf(dataset: string, size: number, resize: string): string {
  return join(cacheRoot, `${dataset}-${size}-${resize}`);
}

// ---- extraction ---------------------------------------------------------------------------------
async function extract(): Promise<void> {
  const dataset = argument('dataset', 'casting');
  const size = Number(argument('size', '224'));
  const resize = argument('resize', 'fill');
  const trainImages = Number(argument('train-images', dataset === 'casting' ? '400' : '0'));
  const backboneManifest = JSON.parse(await readFile(join(process.env.HOME ?? '/root', '.cache/residuum/backbones', `resnet50-${size}.json`), 'utf8')) as { preprocessing: PreprocessingSpec };
  const onnxPath = join(process.env.HOME ?? '/root', '.cache/residuum/backbones', `resnet50-${size}.onnx`);
  const session = await ort.InferenceSession.create(onnxPath, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: THREADS });
  const base = backboneManifest.preprocessing;
  const grid = size / 8;
  const half = grid / 2;
  const perImage = grid * grid * (L1 + L2) + half * half * L3;
  const folder = folderOf(dataset, size, resize);
  await mkdir(folder, { recursive: true });
  // --test-stride k keeps every k-th test image (both classes stay represented: items are sorted by folder).
  const { train, test } = await datasetItems(dataset, trainImages, Number(argument('test-stride', '1')));
  const timings: Record<string, number> = {};
  for (const [split, items] of [['train', train], ['test', test]] as const) {
    const file = await open(join(folder, `${split}.f16`), 'w');
    const stored: StoredItem[] = [];
    const started = Date.now();
    let backboneMs = 0;
    const batchSize = 8;
    for (let start = 0; start < items.length; start += batchSize) {
      const batch = items.slice(start, start + batchSize);
      const input = new Float32Array(batch.length * 3 * size * size);
      for (let b = 0; b < batch.length; b++) {
        const item = batch[b];
        const raw = await decodeImage(item.path);
        let box = { x: 0, y: 0, width: size, height: size };
        if (resize === 'pad') {
          const scale = size / Math.max(raw.width, raw.height);
          box = { x: 0, y: 0, width: Math.max(1, Math.round(raw.width * scale)), height: Math.max(1, Math.round(raw.height * scale)) };
          box.x = Math.floor((size - box.width) / 2);
          box.y = Math.floor((size - box.height) / 2);
        }
        const chw = preprocessImage(raw, { ...base, width: box.width, height: box.height, resize: 'fill' });
        const plane = box.width * box.height;
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < box.height; y++) {
            const target = b * 3 * size * size + c * size * size + (box.y + y) * size + box.x;
            input.set(chw.subarray(c * plane + y * box.width, c * plane + (y + 1) * box.width), target);
          }
        }
        stored.push({ relPath: item.relPath, path: item.path, label: item.label as 0 | 1, ...(item.maskPath ? { maskPath: item.maskPath } : {}), ...(item.defectType ? { defectType: item.defectType } : {}), width: raw.width, height: raw.height, box });
      }
      const t0 = Date.now();
      const out = await session.run({ input: new ort.Tensor('float32', input, [batch.length, 3, size, size]) }, ['layer1', 'layer2', 'layer3']);
      backboneMs += Date.now() - t0;
      const l1 = out.layer1.data as Float32Array;
      const l2 = out.layer2.data as Float32Array;
      const l3 = out.layer3.data as Float32Array;
      const halves = new Uint16Array(batch.length * perImage);
      for (let b = 0; b < batch.length; b++) {
        let o = b * perImage;
        const g1 = grid * 2;
        for (let y = 0; y < grid; y++) {
          for (let x = 0; x < grid; x++) {
            for (let c = 0; c < L1; c++) {
              const p = b * L1 * g1 * g1 + c * g1 * g1 + 2 * y * g1 + 2 * x;
              halves[o++] = toHalf(0.25 * (l1[p] + l1[p + 1] + l1[p + g1] + l1[p + g1 + 1]));
            }
          }
        }
        for (let i = 0; i < grid * grid; i++) for (let c = 0; c < L2; c++) halves[o++] = toHalf(l2[b * L2 * grid * grid + c * grid * grid + i]);
        for (let i = 0; i < half * half; i++) for (let c = 0; c < L3; c++) halves[o++] = toHalf(l3[b * L3 * half * half + c * half * half + i]);
      }
      await file.write(new Uint8Array(halves.buffer));
      if ((start / batchSize) % 10 === 0) console.error(`${split}: ${start + batch.length}/${items.length} (${((start + batch.length) / ((Date.now() - started) / 1000)).toFixed(1)} images/s)`);
    }
    await file.close();
    await writeFile(join(folder, `${split}.json`), JSON.stringify(stored));
    timings[`${split}Seconds`] = (Date.now() - started) / 1000;
    timings[`${split}BackboneImagesPerSecond`] = items.length / (backboneMs / 1000);
  }
  const meta = { dataset, size, resize, grid, perImage, trainImages: train.length, testImages: test.length, timings, loadAverage: loadavg(), at: new Date().toISOString() };
  await writeFile(join(folder, 'meta.json'), JSON.stringify(meta, null, 2));
  console.log(JSON.stringify(meta, null, 2));
  await session.release();
}

// ---- embeddings ---------------------------------------------------------------------------------
interface EmbedSettings {
  grid: number;
  layers: number[];
  /** Local averaging window(s); several (e.g. 3+9) concatenate one pooled copy of every layer per window. */
  local: number[];
  /** Output width: 0 = every channel (no reduction). */
  dim: number;
}

/** Mean over a k x k window (stride 1, padding not counted) of a channel-last [h, w, c] map. */
function localAverage(src: Float32Array, h: number, w: number, c: number, k: number): Float32Array {
  if (k <= 1) return src;
  const r = (k - 1) / 2;
  const out = new Float32Array(src.length);
  const acc = new Float64Array(c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      acc.fill(0);
      let n = 0;
      for (let dy = -r; dy <= r; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -r; dx <= r; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const o = (yy * w + xx) * c;
          for (let j = 0; j < c; j++) acc[j] += src[o + j];
          n++;
        }
      }
      const o = (y * w + x) * c;
      for (let j = 0; j < c; j++) out[o + j] = acc[j] / n;
    }
  }
  return out;
}

/** Bilinear (align_corners false) upsampling of a channel-last [h, w, c] map to [H, W, c]. */
function upsample(src: Float32Array, h: number, w: number, c: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W * c);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(h - 1, Math.max(0, ((y + 0.5) * h) / H - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(h - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < W; x++) {
      const sx = Math.min(w - 1, Math.max(0, ((x + 0.5) * w) / W - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(w - 1, x0 + 1);
      const fx = sx - x0;
      const o = (y * W + x) * c;
      const a = (y0 * w + x0) * c;
      const b = (y0 * w + x1) * c;
      const d = (y1 * w + x0) * c;
      const e = (y1 * w + x1) * c;
      for (let j = 0; j < c; j++) out[o + j] = (1 - fy) * ((1 - fx) * src[a + j] + fx * src[b + j]) + fy * ((1 - fx) * src[d + j] + fx * src[e + j]);
    }
  }
  return out;
}

/** PatchCore's per-layer channel reduction: adaptive average pooling of c channels to `width`. */
function adaptivePool(src: Float32Array, count: number, c: number, width: number, out: Float32Array, outStride: number, outOffset: number): void {
  for (let j = 0; j < width; j++) {
    const from = Math.floor((j * c) / width);
    const to = Math.ceil(((j + 1) * c) / width);
    for (let i = 0; i < count; i++) {
      let sum = 0;
      for (let k = from; k < to; k++) sum += src[i * c + k];
      out[i * outStride + outOffset + j] = sum / (to - from);
    }
  }
}

function embeddingWidth(settings: EmbedSettings): number {
  if (settings.dim > 0) return settings.dim;
  return settings.local.length * settings.layers.reduce((sum, layer) => sum + [0, L1, L2, L3][layer], 0);
}

/** [grid * grid, width] PatchCore embedding of one stored image. */
function embed(halves: Uint16Array, offset: number, settings: EmbedSettings): Float32Array {
  const { grid, layers } = settings;
  const half = grid / 2;
  const count = grid * grid;
  const width = embeddingWidth(settings);
  const out = new Float32Array(count * width);
  const parts = layers.flatMap((layer) => settings.local.map((local) => ({ layer, local })));
  let column = 0;
  parts.forEach(({ layer, local }, index) => {
    const channels = [0, L1, L2, L3][layer];
    const start = offset + (layer === 1 ? 0 : layer === 2 ? count * L1 : count * (L1 + L2));
    const cells = layer === 3 ? half * half : count;
    const raw = new Float32Array(cells * channels);
    for (let i = 0; i < raw.length; i++) raw[i] = HALF_TO_FLOAT[halves[start + i]];
    let map = layer === 3 ? localAverage(raw, half, half, channels, local) : localAverage(raw, grid, grid, channels, local);
    if (layer === 3) map = upsample(map, half, half, channels, grid, grid);
    const share = settings.dim > 0 ? Math.floor(settings.dim / parts.length) + (index === parts.length - 1 ? settings.dim % parts.length : 0) : channels;
    if (settings.dim > 0) adaptivePool(map, count, channels, share, out, width, column);
    else for (let i = 0; i < count; i++) out.set(map.subarray(i * channels, (i + 1) * channels), i * width + column);
    column += share;
  });
  return out;
}

// ---- nearest-neighbour search -------------------------------------------------------------------
class BankSearch {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly transposed: ort.Tensor,
    readonly bank: Float32Array,
    private readonly norms: Float32Array,
    readonly size: number,
    readonly width: number,
  ) {}

  static async create(bank: Float32Array, size: number, width: number): Promise<BankSearch> {
    const session = await ort.InferenceSession.create(new Uint8Array(Buffer.from(PROJECTION_ONNX_BASE64, 'base64')), { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: THREADS });
    const t = new Float32Array(width * size);
    const norms = new Float32Array(size);
    for (let k = 0; k < size; k++) {
      let n = 0;
      for (let d = 0; d < width; d++) {
        const v = bank[k * width + d];
        t[d * size + k] = v;
        n += v * v;
      }
      norms[k] = n;
    }
    return new BankSearch(session, new ort.Tensor('float32', t, [width, size]), bank, norms, size, width);
  }

  /** Per row: the distance to the nearest bank entry and its index. */
  async nearest(rows: Float32Array, count: number): Promise<{ distance: Float32Array; index: Int32Array }> {
    const result = await this.session.run({ features: new ort.Tensor('float32', rows, [count, this.width]), projection: this.transposed });
    const dots = result.projected.data as Float32Array;
    const distance = new Float32Array(count);
    const index = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      let rowNorm = 0;
      for (let d = 0; d < this.width; d++) rowNorm += rows[i * this.width + d] ** 2;
      let best = Infinity;
      let at = 0;
      const o = i * this.size;
      for (let k = 0; k < this.size; k++) {
        const v = this.norms[k] - 2 * dots[o + k];
        if (v < best) {
          best = v;
          at = k;
        }
      }
      distance[i] = Math.sqrt(Math.max(0, best + rowNorm));
      index[i] = at;
    }
    return { distance, index };
  }

  /** PatchCore's reweighting of the most anomalous patch: 1 - softmax over its distances to the bank neighbours of its nearest entry. */
  reweight(row: Float32Array, nearestIndex: number, neighbours: number): number {
    const w = this.width;
    const c = nearestIndex * w;
    const bankDistances: Array<[number, number]> = [];
    for (let k = 0; k < this.size; k++) {
      let d2 = 0;
      for (let d = 0; d < w; d++) d2 += (this.bank[k * w + d] - this.bank[c + d]) ** 2;
      bankDistances.push([d2, k]);
    }
    bankDistances.sort((a, b) => a[0] - b[0]);
    const support = bankDistances.slice(0, neighbours).map(([, k]) => k);
    const distances = support.map((k) => {
      let d2 = 0;
      for (let d = 0; d < w; d++) d2 += (row[d] - this.bank[k * w + d]) ** 2;
      return Math.sqrt(d2);
    });
    const m = Math.max(...distances);
    const exps = distances.map((d) => Math.exp(d - m));
    return 1 - exps[0] / exps.reduce((a, b) => a + b, 0);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

// ---- evaluation ---------------------------------------------------------------------------------
async function loadSplit(folder: string, split: string): Promise<{ items: StoredItem[]; halves: Uint16Array }> {
  const items = JSON.parse(await readFile(join(folder, `${split}.json`), 'utf8')) as StoredItem[];
  const bytes = await readFile(join(folder, `${split}.f16`));
  return { items, halves: new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) };
}

function metricsOf(scores: number[], labels: Array<0 | 1>): { auroc: number; recallAt1: number; recallAt5: number } {
  const round = (v: number): number => Number(v.toFixed(4));
  return { auroc: round(auroc(scores, labels)), recallAt1: round(recallAtFalseAlarmRate(scores, labels, 0.01).recall), recallAt5: round(recallAtFalseAlarmRate(scores, labels, 0.05).recall) };
}

/**
 * Pixel AUROC and AUPRO (FPR <= 0.3) over every test image, and per defect type over the good images
 * plus that type's: pooled pixel AUROC weighs each type by its defect pixels (on magnetic_tile the
 * region-wide 'uneven' masks hold 71 % of them), so the per-type figures say where the pooled one is lost.
 */
function segmentationMetrics(samples: SegmentationSample[], defectTypes: string[]): Record<string, number | Record<string, { pixelAuroc: number; aupro30: number }>> {
  const round = (v: number): number => Number(v.toFixed(4));
  const perType: Record<string, { pixelAuroc: number; aupro30: number }> = {};
  for (const type of [...new Set(defectTypes)].filter((t) => t !== 'good').sort()) {
    const chosen = samples.filter((_, i) => defectTypes[i] === type || defectTypes[i] === 'good');
    perType[type] = { pixelAuroc: round(pixelAuroc(chosen)), aupro30: round(aupro(chosen, 0.3)) };
  }
  return { pixelAuroc: round(pixelAuroc(samples)), aupro30: round(aupro(samples, 0.3)), perType };
}

async function evaluate(): Promise<void> {
  const dataset = argument('dataset', 'casting');
  const size = Number(argument('size', '224'));
  const resize = argument('resize', 'fill');
  const layers = argument('layers', '2,3').split(',').map(Number);
  const localText = argument('local', '3');
  const local = localText.split('+').map(Number);
  const dimText = argument('dim', '256');
  const bankSize = Number(argument('bank', '4000'));
  const presample = Number(argument('presample', '120000'));
  const trainLimit = Number(argument('train-images', '0'));
  const testStride = Number(argument('test-stride', '1'));
  const sigmas = argument('sigmas', '4').split(',').map(Number);
  const seed = Number(argument('seed', '1'));
  const folder = folderOf(dataset, size, resize);
  const meta = JSON.parse(await readFile(join(folder, 'meta.json'), 'utf8')) as { grid: number; perImage: number };
  const settings: EmbedSettings = { grid: meta.grid, layers, local, dim: dimText === 'full' ? 0 : Number(dimText) };
  const width = embeddingWidth(settings);
  const count = meta.grid * meta.grid;
  const loadBefore = loadavg();

  // Training: per-image seeded patch subsample, then the greedy bank.
  const trainStart = Date.now();
  const train = await loadSplit(folder, 'train');
  const holdout = Number(argument('holdout', '0'));
  const trainImages = (trainLimit > 0 ? Math.min(trainLimit, train.items.length) : train.items.length) - holdout;
  const perImage = Math.min(count, Math.ceil(presample / trainImages));
  const random = createRandom(seed);
  const patches = new Float32Array(trainImages * perImage * width);
  for (let n = 0; n < trainImages; n++) {
    const e = embed(train.halves, n * meta.perImage, settings);
    const picks = perImage === count ? Array.from({ length: count }, (_, i) => i) : shuffled(Array.from({ length: count }, (_, i) => i), random).slice(0, perImage);
    picks.forEach((p, j) => patches.set(e.subarray(p * width, (p + 1) * width), (n * perImage + j) * width));
  }
  const embedMs = Date.now() - trainStart;
  const patchCount = trainImages * perImage;
  const bankFile = join(folder, `bank-${layers.join('')}-l${localText}-d${dimText}-b${bankSize}-p${presample}-n${trainImages}-s${seed}.f32`);
  let bank: Float32Array;
  let coreset = { indices: [] as number[], timings: { projectionMs: 0, selectionMs: 0 } };
  try {
    const bytes = await readFile(bankFile);
    bank = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    coreset.indices = Array.from({ length: bank.length / width }, (_, i) => i);
    console.error(`bank from ${bankFile}`);
  } catch {
    const picked = await greedyCoreset(patches, patchCount, width, { size: Math.min(bankSize, patchCount), projectionDim: 128, seed, threads: THREADS });
    coreset = { indices: Array.from(picked.indices), timings: picked.timings };
    bank = new Float32Array(coreset.indices.length * width);
    coreset.indices.forEach((p, k) => bank.set(patches.subarray(p * width, (p + 1) * width), k * width));
    await writeFile(bankFile, new Uint8Array(bank.buffer));
  }
  const trainSeconds = (Date.now() - trainStart) / 1000;
  const search = await BankSearch.create(bank, coreset.indices.length, width);

  const dumpPath = argument('dump', '');
  const dump: { holdout: number[][]; test: Array<{ relPath: string; label: number; defectType?: string; width: number; height: number; distance: number[] }> } = { holdout: [], test: [] };
  for (let n = trainImages; n < trainImages + holdout; n++) {
    const e = embed(train.halves, n * meta.perImage, settings);
    dump.holdout.push(Array.from((await search.nearest(e, count)).distance));
  }

  // Test.
  const test = await loadSplit(folder, 'test');
  const chosen = test.items.map((item, i) => ({ item, i })).filter(({ i }) => i % testStride === 0);
  const labels: Array<0 | 1> = [];
  const TOP_FRACTIONS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];
  const scores: Record<string, number[]> = { max: [], reweighted: [] };
  for (const f of TOP_FRACTIONS) scores[`top${f * 100}pct`] = [];
  for (const sigma of sigmas) scores[`smoothedMax_s${sigma}`] = [];
  const samples: Record<number, SegmentationSample[]> = Object.fromEntries(sigmas.map((s) => [s, []]));
  const withMasks = dataset === 'magnetic_tile';
  let embedTestMs = 0;
  let searchMs = 0;
  for (const { item, i } of chosen) {
    const t0 = Date.now();
    const e = embed(test.halves, i * meta.perImage, settings);
    const t1 = Date.now();
    const { distance, index } = await search.nearest(e, count);
    searchMs += Date.now() - t1;
    embedTestMs += t1 - t0;
    labels.push(item.label);
    if (dumpPath) dump.test.push({ relPath: item.relPath, label: item.label, ...(item.defectType ? { defectType: item.defectType } : {}), width: item.width, height: item.height, distance: Array.from(distance) });
    let worst = 0;
    for (let p = 1; p < count; p++) if (distance[p] > distance[worst]) worst = p;
    scores.max.push(distance[worst]);
    scores.reweighted.push(distance[worst] * search.reweight(e.subarray(worst * width, (worst + 1) * width), index[worst], 9));
    const sorted = Float32Array.from(distance).sort();
    for (const f of TOP_FRACTIONS) {
      const k = Math.max(1, Math.round(count * f));
      let top = 0;
      for (let j = count - k; j < count; j++) top += sorted[j];
      scores[`top${f * 100}pct`].push(top / k);
    }
    // Map: patch grid -> input square -> smoothed -> the image's own box -> evaluation size.
    const full = resizeMap(distance, size, size, meta.grid, meta.grid);
    const scale = Math.min(1, EVAL_MAX_SIDE / Math.max(item.width, item.height));
    const ew = Math.max(1, Math.round(item.width * scale));
    const eh = Math.max(1, Math.round(item.height * scale));
    const mask = withMasks ? (item.maskPath ? await loadMask(item.maskPath, ew, eh) : new Uint8Array(ew * eh)) : undefined;
    for (const sigma of sigmas) {
      const smooth = gaussianSmooth(full, size, size, sigma);
      let best = -Infinity;
      for (let y = item.box.y; y < item.box.y + item.box.height; y++) for (let x = item.box.x; x < item.box.x + item.box.width; x++) best = Math.max(best, smooth[y * size + x]);
      scores[`smoothedMax_s${sigma}`].push(best);
      if (mask) {
        const cropped = new Float32Array(item.box.width * item.box.height);
        for (let y = 0; y < item.box.height; y++) cropped.set(smooth.subarray((item.box.y + y) * size + item.box.x, (item.box.y + y) * size + item.box.x + item.box.width), y * item.box.width);
        samples[sigma].push({ map: resizeMap(cropped, ew, eh, item.box.width, item.box.height), mask, width: ew, height: eh });
      }
    }
  }
  await search.release();
  if (dumpPath) await writeFile(dumpPath, JSON.stringify({ grid: meta.grid, size, ...dump, masks: chosen.map(({ item }) => item.maskPath ?? null) }));
  const imageMetrics = Object.fromEntries(Object.entries(scores).map(([name, s]) => [name, metricsOf(s, labels)]));
  const defectTypes = chosen.map(({ item }) => item.defectType ?? 'good');
  const pixelMetrics = withMasks ? Object.fromEntries(sigmas.map((s) => [`s${s}`, segmentationMetrics(samples[s], defectTypes)])) : undefined;
  const report = {
    dataset,
    size,
    resize,
    layers: layers.join('+'),
    local: localText,
    dim: width,
    bank: coreset.indices.length,
    trainImages,
    trainPatches: patchCount,
    testImages: labels.length,
    image: imageMetrics,
    ...(pixelMetrics ? { pixel: pixelMetrics } : {}),
    trainSeconds: Number(trainSeconds.toFixed(1)),
    trainEmbedSeconds: Number((embedMs / 1000).toFixed(1)),
    coresetSeconds: Number(((coreset.timings.projectionMs + coreset.timings.selectionMs) / 1000).toFixed(1)),
    searchMsPerImage: Number((searchMs / labels.length).toFixed(1)),
    embedMsPerImage: Number((embedTestMs / labels.length).toFixed(1)),
    bankMegabytesFp32: Number(((bank.length * 4) / 1e6).toFixed(1)),
    loadAverage: [loadBefore[0], loadavg()[0]].map((v) => Number(v.toFixed(2))),
    at: new Date().toISOString(),
    command: `bench/patchcore-settings.ts ${process.argv.slice(2).join(' ')}`,
  };
  await appendFile(join(cacheRoot, 'results.jsonl'), JSON.stringify(report) + '\n');
  console.log(JSON.stringify(report));
}

// ---- fusion of two dumped runs ------------------------------------------------------------------
interface Dump {
  grid: number;
  size: number;
  holdout: number[][];
  test: Array<{ relPath: string; label: number; defectType?: string; width: number; height: number; distance: number[] }>;
  masks: Array<string | null>;
}

/**
 * fuse A.json B.json: the maps of two `eval --dump` runs over the same test images (e.g. --local 3 and
 * --local 9), each standardized by the mean and spread of its held-out good images' distances, averaged
 * (or their max), smoothed (sigma 8) and scored like eval: does one bank per window size add up?
 */
async function fuse(): Promise<void> {
  const [a, b] = await Promise.all(process.argv.slice(3, 5).map(async (file) => JSON.parse(await readFile(file, 'utf8')) as Dump));
  if (!a || !b || a.test.length !== b.test.length || a.holdout.length === 0 || b.holdout.length === 0) throw new Error('usage: fuse A.json B.json (two eval --dump files of the same test set, with --holdout)');
  const spread = (dump: Dump): { mean: number; sd: number } => {
    const all = dump.holdout.flat();
    const mean = all.reduce((x, y) => x + y, 0) / all.length;
    return { mean, sd: Math.sqrt(all.reduce((x, y) => x + (y - mean) ** 2, 0) / all.length) };
  };
  const [sa, sb] = [spread(a), spread(b)];
  const { grid, size } = a;
  const masks: Array<{ mask: Uint8Array; width: number; height: number }> = [];
  for (let i = 0; i < a.test.length; i++) {
    const t = a.test[i];
    const scale = Math.min(1, EVAL_MAX_SIDE / Math.max(t.width, t.height));
    const width = Math.max(1, Math.round(t.width * scale));
    const height = Math.max(1, Math.round(t.height * scale));
    masks.push({ mask: a.masks[i] ? await loadMask(a.masks[i]!, width, height) : new Uint8Array(width * height), width, height });
  }
  const combine: Record<string, (x: number, y: number) => number> = { mean: (x, y) => (x + y) / 2, max: Math.max };
  for (const [name, f] of Object.entries(combine)) {
    const samples: SegmentationSample[] = [];
    const imageScores: number[] = [];
    for (let i = 0; i < a.test.length; i++) {
      const map = Float32Array.from(a.test[i].distance, (d, p) => f((d - sa.mean) / sa.sd, (b.test[i].distance[p] - sb.mean) / sb.sd));
      const smooth = gaussianSmooth(resizeMap(map, size, size, grid, grid), size, size, 8);
      samples.push({ map: resizeMap(smooth, masks[i].width, masks[i].height, size, size), ...masks[i] });
      imageScores.push(map.reduce((x, y) => x + y, 0) / map.length);
    }
    const labels = a.test.map((t) => t.label as 0 | 1);
    console.log(JSON.stringify({ fuse: process.argv.slice(3, 5), combine: name, imageMean: metricsOf(imageScores, labels), pixel: segmentationMetrics(samples, a.test.map((t) => t.defectType ?? 'good')) }));
  }
}

const command = process.argv[2];
if (command === 'extract') await extract();
else if (command === 'eval') await evaluate();
else if (command === 'fuse') await fuse();
else {
  console.error('usage: patchcore-settings.ts extract|eval|fuse --dataset casting|magnetic_tile --size 224 --resize fill|pad ...');
  process.exit(2);
}
