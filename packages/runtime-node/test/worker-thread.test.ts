import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InspectionSuccess } from '@residuum/inspection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeInspector, type NodeInspector } from '../src/index.js';
import { fixturePath, randomPixels, tempDir, writePng } from './helpers.js';

let paths: string[];
let onWorker: NodeInspector;
let onMain: NodeInspector;

beforeAll(async () => {
  const dir = tempDir();
  paths = [];
  for (let i = 0; i < 7; i++) {
    const path = join(dir, `part-${i}.png`);
    await writePng(path, randomPixels(20 + i, 16, i % 2 === 0 ? 1 : 3, 40 + i), 20 + i, 16, i % 2 === 0 ? 1 : 3);
    paths.push(path);
  }
  onWorker = await createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'cpu', batchSize: 2, threads: 1 });
  onMain = await createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'cpu', batchSize: 3, threads: 1, inferenceThread: 'main' });
});

afterAll(async () => {
  await onWorker?.dispose();
  await onMain?.dispose();
});

describe('inference on a worker thread (the default)', () => {
  it('gives exactly the scores, maps and reconstructions of the main-thread session, in order, across pipelined batches', async () => {
    const images = [...paths, paths[1], 'missing.png', paths[0]];
    const fromWorker = await onWorker.inspect(images, { returnMaps: true });
    const fromMain = await onMain.inspect(images, { returnMaps: true });
    expect(fromWorker.map((r) => r.source)).toEqual(images);
    expect(fromWorker.map((r) => r.ok)).toEqual(fromMain.map((r) => r.ok));
    expect(fromWorker[images.length - 2].ok).toBe(false);
    fromWorker.forEach((result, i) => {
      const main = fromMain[i];
      if (!result.ok || !main.ok) return;
      expect(result.score).toBe(main.score);
      expect(result.map?.data).toEqual(main.map?.data);
      expect(result.reconstruction?.data).toEqual(main.reconstruction?.data);
    });
  });

  it('streams results one batch at a time with inspectBatches, the same as inspect, and can stop early', async () => {
    const images = [...paths, paths[2]];
    const whole = await onWorker.inspect(images);
    const batches: number[] = [];
    const streamed = [];
    for await (const batch of onWorker.inspectBatches(images)) {
      batches.push(batch.length);
      streamed.push(...batch);
    }
    expect(batches).toEqual([2, 2, 2, 2]);
    expect(streamed).toEqual(whole.map((r) => ({ ...r, timings: expect.any(Object) })));
    for await (const batch of onWorker.inspectBatches(images)) {
      expect(batch.map((r) => r.source)).toEqual(images.slice(0, 2));
      break;
    }
    expect((await onWorker.inspect([paths[3]]))[0]).toMatchObject({ ok: true, score: (whole[3] as InspectionSuccess).score });
    expect(() => onWorker.inspectBatches('a.png' as never)).toThrow(/images must be an array/);
  });

  it('reports the decoding part of preprocessing', async () => {
    const results = (await onWorker.inspect(paths.slice(0, 3))) as InspectionSuccess[];
    for (const { timings } of results) {
      expect(timings.decodeMs).toBeGreaterThan(0);
      expect(timings.decodeMs).toBeLessThanOrEqual(timings.preprocessMs);
    }
  });

  it('scores the same with two intra-op threads, spinning or not', async () => {
    const expected = ((await onMain.inspect(paths)) as InspectionSuccess[]).map((r) => r.score);
    for (const spinWait of [false, true]) {
      const inspector = await createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'cpu', batchSize: 4, threads: 2, spinWait });
      try {
        expect(((await inspector.inspect(paths)) as InspectionSuccess[]).map((r) => r.score)).toEqual(expected);
      } finally {
        await inspector.dispose();
      }
    }
  });

  it('scores the same with variableBatches over calls of changing batch size', async () => {
    const expected = ((await onMain.inspect(paths)) as InspectionSuccess[]).map((r) => r.score);
    const inspector = await createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'cpu', batchSize: 4, variableBatches: true });
    try {
      const scores: number[] = [];
      // 1, then 3, then the rest: three different input shapes on one session
      for (const slice of [paths.slice(0, 1), paths.slice(1, 4), paths.slice(4)]) {
        scores.push(...((await inspector.inspect(slice)) as InspectionSuccess[]).map((r) => r.score));
      }
      expect(scores).toEqual(expected);
    } finally {
      await inspector.dispose();
    }
  });

  it('rejects an unknown inferenceThread', async () => {
    await expect(createNodeInspector(fixturePath('tiny-ae.onnx'), { inferenceThread: 'gpu' as never })).rejects.toThrow(/inferenceThread must be 'worker' or 'main'/);
  });

  it('does not keep the process alive when the inspector is never disposed', () => {
    const child = spawnSync(
      process.execPath,
      ['--conditions=@residuum/source', '--import', 'tsx', fileURLToPath(new URL('./undisposed-child.ts', import.meta.url)), fixturePath('tiny-ae.onnx'), paths[0]],
      { encoding: 'utf8', timeout: 60_000, cwd: fileURLToPath(new URL('..', import.meta.url)) },
    );
    expect(child.signal, 'the child was killed by the timeout: the worker kept it alive').toBeNull();
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ ok: true });
  });
});
