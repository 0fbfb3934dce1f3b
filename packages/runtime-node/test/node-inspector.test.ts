import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxFileError, type InspectionSuccess } from '@residuum/inspection';
import { ModelCardError, createSeededRandom, makeDropoutMasks, preprocessImage } from '@residuum/scoring';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionProviderError, createNodeInspector, summarize, type NodeInspector } from '../src/index.js';
import { fixturePath, randomPixels, readFixture, tempDir, writePng } from './helpers.js';

const SIZE = 16 * 16;
let dir: string;
let goodPaths: string[];
let inspector: NodeInspector;

beforeAll(async () => {
  dir = tempDir();
  goodPaths = [];
  for (let i = 0; i < 5; i++) {
    const path = join(dir, `part-${i}.png`);
    await writePng(path, randomPixels(16, 16, 1, 100 + i), 16, 16, 1);
    goodPaths.push(path);
  }
  inspector = await createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'cpu', batchSize: 2, threads: 1 });
});

afterAll(async () => {
  await inspector?.dispose();
});

/** The reference: sharp decode, /255, a plain onnxruntime-node session, squared-error mean by hand. */
async function referenceScores(paths: string[]): Promise<number[]> {
  const session = await ort.InferenceSession.create(fixturePath('tiny-ae.onnx'), { executionProviders: ['cpu'] });
  const scores: number[] = [];
  for (const path of paths) {
    const pixels = await sharp(path).extractChannel(0).raw().toBuffer();
    expect(pixels.length).toBe(SIZE);
    const input = Float32Array.from(pixels, (p) => p / 255);
    const output = await session.run({ input: new ort.Tensor('float32', input, [1, 1, 16, 16]) });
    const reconstruction = output.reconstruction.data as Float32Array;
    let sum = 0;
    for (let i = 0; i < SIZE; i++) sum += (input[i] - reconstruction[i]) ** 2;
    scores.push(sum / SIZE);
  }
  await session.release();
  return scores;
}

describe('createNodeInspector on the CPU provider', () => {
  it('scores images like a direct onnxruntime-node run scored by hand', async () => {
    const results = (await inspector.inspect(goodPaths)) as InspectionSuccess[];
    const reference = await referenceScores(goodPaths);
    expect(results.map((r) => r.ok)).toEqual(goodPaths.map(() => true));
    results.forEach((result, i) => {
      expect(result.source).toBe(goodPaths[i]);
      expect(result.score).toBeCloseTo(reference[i], 6);
      expect(result.provider).toBe('cpu');
      expect(result.threshold).toBe(inspector.card.threshold.value);
      expect(result.isAnomalous).toBe(result.score >= inspector.card.threshold.value);
      expect(result.timings.preprocessMs).toBeGreaterThan(0);
      expect(result.timings.inferenceMs).toBeGreaterThan(0);
    });
    expect(inspector.attempts).toEqual([{ provider: 'cpu', ok: true }]);
    expect(inspector.warmupMs).toBeGreaterThanOrEqual(0);
  });

  it('preprocesses exactly as the card says (decode at native size, then scoring.preprocessImage)', async () => {
    const path = join(dir, 'colour-40x24.png');
    const pixels = randomPixels(40, 24, 3, 7);
    await writePng(path, pixels, 40, 24, 3);
    const input = preprocessImage({ data: pixels, width: 40, height: 24, channels: 3 }, inspector.card.preprocessing);
    const [fromFile] = (await inspector.inspect([path], { returnMaps: true })) as InspectionSuccess[];
    const [fromTensor] = (await inspector.inspectTensors([{ source: 'tensor', input: { data: input, channels: 1, height: 16, width: 16 } }])) as InspectionSuccess[];
    expect(fromFile.input?.data).toEqual(input);
    expect(fromFile.score).toBe(fromTensor.score);
    expect(fromFile.map?.data.length).toBe(SIZE);
    expect(fromFile.reconstruction?.data.length).toBe(SIZE);
  });

  it('flips the verdict with a threshold override', async () => {
    const [result] = (await inspector.inspect([goodPaths[0]])) as InspectionSuccess[];
    const [below] = (await inspector.inspect([goodPaths[0]], { threshold: result.score * 0.99 })) as InspectionSuccess[];
    const [above] = (await inspector.inspect([goodPaths[0]], { threshold: result.score * 1.01 })) as InspectionSuccess[];
    expect(below.isAnomalous).toBe(true);
    expect(below.threshold).toBe(result.score * 0.99);
    expect(above.isAnomalous).toBe(false);
    expect(below.normalizedScore).toBeGreaterThan(0.5);
    expect(above.normalizedScore).toBeLessThan(0.5);
    await expect(inspector.inspect([goodPaths[0]], { threshold: Number.NaN })).rejects.toThrow(/threshold must be a finite number/);
  });

  it('makes corrupt, unreadable and missing images error entries and scores the others', async () => {
    const good = await sharp(goodPaths[1]).png().toBuffer();
    const truncated = join(dir, 'truncated.png');
    writeFileSync(truncated, good.subarray(0, Math.floor(good.length / 2)));
    const text = join(dir, 'notes.png');
    writeFileSync(text, 'this is not an image');
    const missing = join(dir, 'missing.png');
    const images = [goodPaths[0], truncated, text, Buffer.from(good), missing, goodPaths[2]];
    const results = await inspector.inspect(images);
    expect(results.map((r) => r.ok)).toEqual([true, false, false, true, false, true]);
    expect(results[1]).toMatchObject({ ok: false, source: truncated });
    expect(results[1].ok === false && results[1].error).toMatch(/truncated|corrupt/i);
    expect(results[2].ok === false && results[2].error).toMatch(/not an image/);
    expect(results[3].source).toBe('buffer[3]');
    expect(results[4].ok === false && results[4].error).toMatch(/file not found/);
    const [reference] = await referenceScores([goodPaths[1]]);
    expect((results[3] as InspectionSuccess).score).toBeCloseTo(reference, 6);
    const summary = summarize(results, 100);
    expect(summary).toMatchObject({ total: 6, errors: 3, providers: ['cpu'], imagesPerSecond: 30 });
    expect(summary.ok + summary.anomalous).toBe(3);
  });

  it('keeps the order across batches and the bounded decode queue, for any batch size', async () => {
    const many = [...goodPaths, ...goodPaths, goodPaths[0]];
    const expected = ((await inspector.inspect(many)) as InspectionSuccess[]).map((r) => r.score);
    const other = await createNodeInspector(readFixture('tiny-ae.onnx'), { provider: 'cpu', batchSize: 3, queueDepth: 1, warmup: false });
    try {
      expect(other.warmupMs).toBeNull();
      const results = (await other.inspect(many)) as InspectionSuccess[];
      expect(results.map((r) => r.source)).toEqual(many);
      results.forEach((r, i) => expect(r.score).toBeCloseTo(expected[i], 6));
    } finally {
      await other.dispose();
    }
    await expect(other.inspect([goodPaths[0]])).rejects.toThrow(/was disposed/);
  });

  it('runs N stochastic MC-Dropout passes and returns an uncertainty map', async () => {
    const mc = await createNodeInspector(fixturePath('tiny-mc-ae.onnx'), { provider: 'cpu', batchSize: 4, seed: 3 });
    try {
      const [result] = (await mc.inspect([goodPaths[0]], { returnMaps: true })) as InspectionSuccess[];
      expect(mc.card.mcDropout?.samples).toBe(6);
      expect(result.uncertainty?.data.length).toBe(SIZE);
      expect(Math.max(...result.uncertainty!.data)).toBeGreaterThan(0);
      // The mean reconstruction equals the mean of direct runs with the same seeded masks.
      const session = await ort.InferenceSession.create(fixturePath('tiny-mc-ae.onnx'));
      const input = result.input!.data;
      const random = createSeededRandom(3);
      const mean = new Float32Array(SIZE);
      for (let pass = 0; pass < 6; pass++) {
        const mask = makeDropoutMasks(mc.card, 1, random).mc_mask_0;
        const out = await session.run({
          input: new ort.Tensor('float32', input, [1, 1, 16, 16]),
          mc_mask_0: new ort.Tensor('float32', mask.data, mask.dims),
        });
        (out.reconstruction.data as Float32Array).forEach((v, i) => (mean[i] += v / 6));
      }
      await session.release();
      result.reconstruction!.data.forEach((v, i) => expect(v).toBeCloseTo(mean[i], 5));
      const [single] = (await mc.inspect([goodPaths[0]], { mcSamples: 1, returnMaps: true })) as InspectionSuccess[];
      expect(single.uncertainty).toBeUndefined();
    } finally {
      await mc.dispose();
    }
  });
});

describe('createNodeInspector errors', () => {
  it('rejects a damaged, foreign, missing or non-ONNX model with a clear error naming the file', async () => {
    const truncated = join(dir, 'truncated.onnx');
    const bytes = readFixture('tiny-ae.onnx');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 300));
    await expect(createNodeInspector(truncated)).rejects.toThrow(OnnxFileError);
    await expect(createNodeInspector(truncated)).rejects.toThrow(new RegExp(`${truncated}: the ONNX file is truncated`));
    await expect(createNodeInspector(fixturePath('foreign.onnx'))).rejects.toThrow(ModelCardError);
    await expect(createNodeInspector(fixturePath('foreign.onnx'))).rejects.toThrow(/no Residuum model card: export it with `residuum export`/);
    await expect(createNodeInspector(join(dir, 'nope.onnx'))).rejects.toThrow(/cannot read model .*nope\.onnx: file not found/);
    await expect(createNodeInspector(goodPaths[0])).rejects.toThrow(/not an ONNX file: it looks like a PNG image/);
    await expect(createNodeInspector(fixturePath('tiny-ae-wrong-card.onnx'))).rejects.toThrow(/does not match the ONNX graph/);
  });

  it('rejects bad options', async () => {
    await expect(createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'wasm' as never })).rejects.toThrow(/provider must be one of auto, cuda, cpu, webgpu.*browser/);
    await expect(createNodeInspector(fixturePath('tiny-ae.onnx'), { batchSize: 0 })).rejects.toThrow(/batchSize must be a positive integer/);
    await expect(createNodeInspector(fixturePath('tiny-ae.onnx'), { threads: 1.5 })).rejects.toThrow(/threads/);
  });
});

// CI and this machine have onnxruntime-node without the CUDA binaries (.npmrc skips their download).
const cudaBinariesInstalled = existsSync(
  join(fixturePath('.'), '../../../../node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so'),
);

describe('execution providers', () => {
  it('fails a forced CUDA request with the reason and the remedy, never falling back', async () => {
    const attempt = createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'cuda' });
    if (cudaBinariesInstalled) {
      expect((await attempt).provider).toBe('cuda');
      return;
    }
    const error = await attempt.then(
      () => expect.fail('cuda must not succeed without the CUDA binaries'),
      (e: unknown) => e as ExecutionProviderError,
    );
    expect(error).toBeInstanceOf(ExecutionProviderError);
    expect(error.message).toMatch(/^CUDA execution provider unavailable: .*Failed to load shared library.*; install onnxruntime-node with the CUDA binaries/);
    expect(error.attempts).toEqual([{ provider: 'cuda', ok: false, reason: error.message }]);
  });

  it('auto tries CUDA then runs on CPU, recording the CUDA failure', async () => {
    const auto = await createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'auto', warmup: false, logLevel: 'fatal' });
    try {
      if (cudaBinariesInstalled) return expect(auto.attempts[0].provider).toBe('cuda');
      expect(auto.provider).toBe('cpu');
      expect(auto.attempts).toHaveLength(2);
      expect(auto.attempts[0]).toMatchObject({ provider: 'cuda', ok: false });
      expect(auto.attempts[0].reason).toMatch(/CUDA execution provider unavailable: .*Failed to load shared library/);
      expect(auto.attempts[1]).toEqual({ provider: 'cpu', ok: true });
      const [result] = await auto.inspect([goodPaths[0]]);
      expect(result.ok && result.provider).toBe('cpu');
    } finally {
      await auto.dispose();
    }
  });

  it('fails a forced WebGPU request clearly when no GPU adapter exists (no silent CPU)', async () => {
    const vulkanDrivers = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'].some((d) => existsSync(d) && readdirSync(d).length > 0);
    const attempt = createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'webgpu', warmup: false });
    if (vulkanDrivers || process.env.VK_ICD_FILENAMES) {
      const webgpu = await attempt;
      expect(webgpu.provider).toBe('webgpu');
      return webgpu.dispose();
    }
    await expect(attempt).rejects.toThrow(ExecutionProviderError);
    await expect(createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'webgpu' })).rejects.toThrow(
      /^WebGPU execution provider unavailable: Failed to get a WebGPU adapter.*vk_swiftshader_icd\.json/,
    );
  });
});
