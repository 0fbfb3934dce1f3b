/**
 * Load on loopback: 2,000 images from 16 concurrent clients. No 503 at this load, every
 * acknowledged result is in the store exactly once, and each verdict and score equals the one
 * runtime-node's Inspector (what `residuum inspect` runs) gives the same file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeInspector } from '@residuum/runtime-node';
import type { LineService } from '../src/index.js';
import { caeModel, postImage, runClients, samples, startTestService, syntheticDefect, tempDir } from './helpers.js';

const IMAGES = 2000;
const CLIENTS = 16;

describe('load', () => {
  const data = tempDir('load');
  let service: LineService;
  const reference: Array<{ score: number; isAnomalous: boolean }> = [];
  // The 24 embedded samples (all under the default model's threshold) and one synthetic defect.
  const images: Uint8Array[] = samples.map((s) => s.bytes);

  beforeAll(async () => {
    images.push(await syntheticDefect());
    const inspector = await createNodeInspector(caeModel, { provider: 'cpu' });
    try {
      const results = await inspector.inspect(images);
      for (const result of results) {
        if (!result.ok) throw new Error(`reference inspection failed: ${result.error}`);
        reference.push({ score: result.score, isAnomalous: result.isAnomalous });
      }
    } finally {
      await inspector.dispose();
    }
    service = await startTestService(data.dir, { watchDir: false, heatmaps: 'anomalous' });
  });
  afterAll(async () => {
    await service?.close();
    data.remove();
  });

  it(`${IMAGES} images from ${CLIENTS} clients: no 503, each acknowledged result stored once, verdicts equal the Inspector's`, async () => {
    const started = performance.now();
    const answers = await runClients(IMAGES, CLIENTS, async (i) => {
      const k = i % images.length;
      const { status, body } = await postImage(service.url, images[k], { query: `?partId=load-${i}&station=s1` });
      return { i, k, status, body };
    });
    const seconds = (performance.now() - started) / 1000;
    console.log(`load: ${IMAGES} images, ${CLIENTS} clients, ${(IMAGES / seconds).toFixed(1)} images/s`);

    const statuses = new Map<number, number>();
    for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    expect(Object.fromEntries(statuses)).toEqual({ 200: IMAGES });

    const ids = answers.map((a) => a.body.id as string);
    expect(new Set(ids).size).toBe(IMAGES);
    expect(service.store.count()).toBe(IMAGES);
    let anomalous = 0;
    for (const { i, k, body } of answers) {
      const row = service.store.get(body.id as string);
      expect(row, `result ${body.id as string}`).not.toBeNull();
      expect(row!.partId).toBe(`load-${i}`);
      const expected = reference[k];
      expect(row!.verdict).toBe(expected.isAnomalous ? 'anomalous' : 'ok');
      expect(body.verdict).toBe(row!.verdict);
      expect(row!.score).toBeCloseTo(expected.score, 6);
      expect(row!.modelVersion).toBe(1);
      if (row!.verdict === 'anomalous') anomalous += 1;
    }
    // Both verdicts occur (the synthetic defect is anomalous).
    expect(anomalous).toBeGreaterThan(0);
    expect(anomalous).toBeLessThan(IMAGES);
  });
});
