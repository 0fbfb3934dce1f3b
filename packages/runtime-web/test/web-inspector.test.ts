/**
 * runtime-web's inspector on onnxruntime-web's WASM backend, in Node (no browser): provider
 * selection, validation and error messages, and scores equal to runtime-node's for the same
 * pixels. Decoding of real files is covered by the dashboard's chromium tests.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNodeInspector } from '@residuum/runtime-node';
import { createSeededRandom, preprocessImage, type RawImage } from '@residuum/scoring';
import { createWebInspector, ProviderUnavailableError, type WebInspector } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixturePath = join(here, '..', '..', 'inspection', 'test', 'fixtures', 'tiny-ae.onnx');
const fixture = new Uint8Array(readFileSync(fixturePath));

// Node has no ImageData: a minimal stand-in with the same shape, so decodeToRawImage takes its ImageData path.
class NodeImageData {
  constructor(
    readonly data: Uint8ClampedArray,
    readonly width: number,
    readonly height: number,
  ) {}
}
(globalThis as { ImageData?: unknown }).ImageData ??= NodeImageData;

/** Seeded RGBA image of a given size (non-square, so the resize path runs). */
function randomRgba(width: number, height: number, seed: number): ImageData {
  const random = createSeededRandom(seed);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 ? 255 : Math.floor(random() * 256);
  return new ImageData(data, width, height);
}

let inspector: WebInspector;

beforeAll(async () => {
  inspector = await createWebInspector(fixture, { provider: 'auto' });
});
afterAll(async () => {
  await inspector?.dispose();
});

describe('provider selection', () => {
  test("'auto' without navigator.gpu records the WebGPU attempt with its reason and runs on WASM", () => {
    expect(inspector.provider).toBe('wasm');
    expect(inspector.attempts).toEqual([
      { provider: 'webgpu', ok: false, reason: expect.stringMatching(/navigator\.gpu is undefined/) },
      { provider: 'wasm', ok: true },
    ]);
    expect(inspector.adapter).toBeUndefined();
  });

  test("'webgpu' without an adapter fails with every attempt listed, never falls back", async () => {
    const attempt = createWebInspector(fixture, { provider: 'webgpu' });
    await expect(attempt).rejects.toBeInstanceOf(ProviderUnavailableError);
    await expect(attempt).rejects.toThrow(/no execution provider could run the model \(webgpu: navigator\.gpu is undefined/);
    const error = (await attempt.catch((e: unknown) => e)) as ProviderUnavailableError;
    expect(error.attempts).toEqual([{ provider: 'webgpu', ok: false, reason: expect.any(String) }]);
  });

  test('rejects unknown providers and bad thread counts by name', async () => {
    await expect(createWebInspector(fixture, { provider: 'cuda' as 'wasm' })).rejects.toThrow(/options\.provider must be 'auto', 'webgpu' or 'wasm', got 'cuda'/);
    await expect(createWebInspector(fixture, { numThreads: 0 })).rejects.toThrow(/options\.numThreads must be a positive integer, got 0/);
  });
});

describe('model loading errors', () => {
  test('bytes that are not ONNX', async () => {
    await expect(createWebInspector(new TextEncoder().encode('not a model'))).rejects.toThrow(/^model bytes: not an ONNX file/);
  });

  test('a File without a Residuum card names the file', async () => {
    // A valid ModelProto with only ir_version = 8 and no metadata: an ONNX file, not a Residuum model.
    const file = new File([new Uint8Array([0x08, 0x08, 0x3a, 0x00])], 'plain.onnx');
    await expect(createWebInspector(file)).rejects.toThrow(/^plain\.onnx: /);
  });

  test('a truncated model file', async () => {
    await expect(createWebInspector(new Blob([fixture.subarray(0, 300)]))).rejects.toThrow(/model blob: .*truncated/);
  });

  test('a URL that cannot be fetched', async () => {
    await expect(createWebInspector('http://127.0.0.1:9/missing.onnx')).rejects.toThrow(/could not fetch model http:\/\/127\.0\.0\.1:9\/missing\.onnx/);
  });

  test('a value that is no model source', async () => {
    await expect(createWebInspector(42 as unknown as string)).rejects.toThrow(/model must be a URL string, URL, File, Blob, ArrayBuffer or Uint8Array, got number/);
  });
});

describe('inspection', () => {
  test('scores equal runtime-node (onnxruntime-node CPU) on the same pixels, verdicts identical', async () => {
    const images = [randomRgba(40, 30, 1), randomRgba(16, 16, 2), randomRgba(23, 57, 3)];
    const web = await inspector.inspect(images);
    const node = await createNodeInspector(fixturePath, { provider: 'cpu' });
    try {
      const prep = node.card.preprocessing;
      const tensors = images.map((image, i) => {
        const raw: RawImage = { data: image.data, width: image.width, height: image.height, channels: 4 };
        return { source: `image ${i + 1}`, input: { data: preprocessImage(raw, prep), channels: prep.channels, height: prep.height, width: prep.width } };
      });
      // A threshold between the scores, so the verdicts are not all the same.
      const firstPass = await node.inspectTensors(tensors);
      const scores = firstPass.map((r) => (r.ok ? r.score : NaN)).sort((a, b) => a - b);
      const threshold = (scores[0] + scores[1]) / 2;
      const nodeResults = await node.inspectTensors(tensors, { threshold });
      const webResults = await inspector.inspect(images, { threshold });
      webResults.forEach((result, i) => {
        const reference = nodeResults[i];
        if (!result.ok || !reference.ok) throw new Error(`unexpected failure: ${JSON.stringify([result, reference])}`);
        expect(result.source).toBe(`image ${i + 1}`);
        expect(Math.abs(result.score - reference.score)).toBeLessThan(1e-6);
        expect(result.isAnomalous).toBe(reference.isAnomalous);
        expect(result.provider).toBe('wasm');
        expect(result.threshold).toBe(threshold);
      });
      expect(new Set(webResults.map((r) => r.ok && r.isAnomalous)).size).toBe(2);
      expect(web.every((r) => r.ok && r.threshold === node.card.threshold.value)).toBe(true);
    } finally {
      await node.dispose();
    }
  });

  test('returnMaps gives the input, reconstruction and anomaly map at model size', async () => {
    const [result] = await inspector.inspect([randomRgba(20, 20, 4)], { returnMaps: true });
    if (!result.ok) throw new Error(result.error);
    const { width, height } = inspector.card.preprocessing;
    expect(result.input?.data).toHaveLength(width * height);
    expect(result.reconstruction?.data).toHaveLength(width * height);
    expect(result.map).toMatchObject({ width, height });
    // The map is the squared residual (the fixture's card), its mean the score.
    let sum = 0;
    for (let i = 0; i < width * height; i++) {
      const diff = result.input!.data[i] - result.reconstruction!.data[i];
      expect(result.map!.data[i]).toBeCloseTo(diff * diff, 6);
      sum += diff * diff;
    }
    expect(result.score).toBeCloseTo(sum / (width * height), 6);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.inferenceMs);
  });

  test('an unreadable source is an error entry; the rest of the batch is scored', async () => {
    const results = await inspector.inspect([randomRgba(16, 16, 5), { width: 3 } as unknown as ImageData, randomRgba(16, 16, 6)]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    expect(results[1]).toMatchObject({ ok: false, source: 'image 2', error: expect.stringMatching(/image 2: expected a File, Blob, ImageBitmap, ImageData/) });
  });

  test('a bad threshold override is refused before any work', async () => {
    await expect(inspector.inspect([randomRgba(16, 16, 7)], { threshold: Number.NaN })).rejects.toThrow(/threshold must be a finite number/);
  });

  test('warm-up inspects a synthetic image end to end and leaves the next scores exactly as without it', async () => {
    const images = [randomRgba(40, 30, 21), randomRgba(16, 16, 22)];
    const cold = await createWebInspector(fixture, { provider: 'wasm' });
    const warm = await createWebInspector(fixture, { provider: 'wasm' });
    try {
      const reference = await cold.inspect(images, { returnMaps: true });
      await expect(warm.warmup()).resolves.toBeGreaterThan(0);
      const after = await warm.inspect(images, { returnMaps: true });
      after.forEach((result, i) => {
        const expected = reference[i];
        if (!result.ok || !expected.ok) throw new Error('unexpected failure');
        expect(result.score).toBe(expected.score);
        expect(result.map?.data).toEqual(expected.map?.data);
      });
    } finally {
      await cold.dispose();
      await warm.dispose();
    }
  });

  test('a disposed inspector says so', async () => {
    const short = await createWebInspector(fixture.buffer.slice(0) as ArrayBuffer, { provider: 'wasm' });
    expect(short.attempts).toEqual([{ provider: 'wasm', ok: true }]);
    await short.dispose();
    await expect(short.inspect([randomRgba(16, 16, 8)])).rejects.toThrow(/disposed/);
    await expect(short.warmup()).rejects.toThrow(/disposed/);
  });
});

describe('MC-Dropout (packages/inspection/test/fixtures/tiny-mc-ae.onnx)', () => {
  const mcPath = join(here, '..', '..', 'inspection', 'test', 'fixtures', 'tiny-mc-ae.onnx');

  test('warm-up feeds the mask inputs; N seeded passes score like runtime-node, with an uncertainty map', async () => {
    const web = await createWebInspector(new Uint8Array(readFileSync(mcPath)), { provider: 'wasm' });
    const node = await createNodeInspector(mcPath, { provider: 'cpu' });
    try {
      expect(web.card.mcDropout?.maskInputs.length).toBeGreaterThan(0);
      await expect(web.warmup()).resolves.toBeGreaterThan(0);
      const images = [randomRgba(30, 20, 11), randomRgba(16, 16, 12)];
      const prep = web.card.preprocessing;
      const tensors = images.map((image, i) => ({
        source: `image ${i + 1}`,
        input: { data: preprocessImage({ data: image.data, width: image.width, height: image.height, channels: 4 }, prep), channels: prep.channels, height: prep.height, width: prep.width },
      }));
      const webResults = await web.inspect(images, { returnMaps: true, mcSamples: 5 });
      const nodeResults = await node.inspectTensors(tensors, { mcSamples: 5 });
      const deterministic = await web.inspect(images, { mcSamples: 1 });
      webResults.forEach((result, i) => {
        const reference = nodeResults[i];
        if (!result.ok || !reference.ok || !deterministic[i].ok) throw new Error('unexpected failure');
        expect(Math.abs(result.score - reference.score)).toBeLessThan(1e-6);
        expect(result.uncertainty?.data.length).toBe(prep.width * prep.height);
        expect(Math.max(...result.uncertainty!.data)).toBeGreaterThan(0);
        // The stochastic passes really differ from the deterministic one.
        expect(result.score).not.toBe((deterministic[i] as { score: number }).score);
      });
    } finally {
      await web.dispose();
      await node.dispose();
    }
  });
});
