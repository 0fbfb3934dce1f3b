/**
 * Versioned models with hot swap: a model activated during load (no failed request, every result
 * tagged with the version that judged it, its score that version's), a bad model refused while the
 * old one keeps serving, activation by dropping a file, and the active version kept across restarts.
 */
import { copyFileSync, existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeInspector } from '@residuum/runtime-node';
import { caeModel, dfrModel, getJson, postImage, samples, startTestService, tempDir, waitFor } from './helpers.js';

// Three good and three defective samples keep the reference runs of the 224 px DFR short.
const swapSamples = [...samples.slice(0, 3), ...samples.slice(-3)];

async function referenceScores(model: string): Promise<number[]> {
  const inspector = await createNodeInspector(model, { provider: 'cpu' });
  try {
    return (await inspector.inspect(swapSamples.map((s) => s.path))).map((r) => (r.ok ? r.score : Number.NaN));
  } finally {
    await inspector.dispose();
  }
}

describe('models', () => {
  const data = tempDir('models');
  const scores = new Map<number, number[]>();
  beforeAll(async () => {
    scores.set(1, await referenceScores(caeModel));
    scores.set(2, await referenceScores(dfrModel));
  });
  afterAll(() => data.remove());

  it('swap under load: no failed request, each result carries the version that judged it', async () => {
    const service = await startTestService(data.dir, { watchDir: false, heatmaps: 'none' });
    try {
      let swapped = false;
      const swap = (async () => {
        await waitFor(() => service.store.count() >= 40, 30_000, 'load before the swap');
        const response = await getJson(`${service.url}/v1/models`, {
          method: 'POST',
          body: readFileSync(dfrModel),
          headers: { 'content-type': 'application/octet-stream' },
        });
        swapped = true;
        return response;
      })();
      // 8 clients until the swap is answered, then 80 more requests on the new version.
      const answers: Array<{ k: number; status: number; body: Record<string, unknown> }> = [];
      let sent = 0;
      let afterSwap = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (!swapped || afterSwap < 80) {
            if (swapped) afterSwap += 1;
            const k = sent++ % swapSamples.length;
            answers.push({ k, ...(await postImage(service.url, swapSamples[k].bytes)) });
          }
        }),
      );
      const swapResponse = await swap;
      expect(swapped).toBe(true);
      expect(swapResponse.status).toBe(200);
      expect(swapResponse.body).toMatchObject({ version: 2, active: true });
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
      const versions = new Set<number>();
      for (const { k, body } of answers) {
        const version = (body.model as { version: number }).version;
        versions.add(version);
        expect(service.store.get(body.id as string)?.modelVersion).toBe(version);
        expect(body.score as number).toBeCloseTo(scores.get(version)![k], 5);
      }
      expect([...versions].sort()).toEqual([1, 2]);
      expect((await getJson(`${service.url}/readyz`)).body.model.version).toBe(2);
    } finally {
      await service.close();
    }
  });

  it('a bad model is refused with the reason; the active one keeps serving', async () => {
    const service = await startTestService(data.dir, { watchDir: false, heatmaps: 'none' });
    try {
      expect(service.models.active?.version).toBe(2); // kept across the restart
      const truncatedModel = readFileSync(caeModel).subarray(0, 5000);
      const refused = await getJson(`${service.url}/v1/models`, { method: 'POST', body: truncatedModel, headers: { 'content-type': 'application/octet-stream' } });
      expect(refused.status).toBe(422);
      expect(refused.body.error).toMatch(/refused/);
      expect(refused.body.active.version).toBe(2);
      const missing = await getJson(`${service.url}/v1/models/99/activate`, { method: 'POST' });
      expect(missing.status).toBe(422);
      expect(missing.body.error).toMatch(/version 99 does not exist/);
      expect((await postImage(service.url, samples[0].bytes)).body.model).toMatchObject({ version: 2 });

      // Versions are kept: version 1 again by API, then version 2.
      for (const version of [1, 2]) {
        const activated = await getJson(`${service.url}/v1/models/${version}/activate`, { method: 'POST' });
        expect(activated.status).toBe(200);
        expect((await postImage(service.url, samples[0].bytes)).body.model).toMatchObject({ version });
      }
    } finally {
      await service.close();
    }
  });

  it('activation by dropping a file: a good one becomes a new version, a bad one is moved to rejected/ with the reason', async () => {
    const service = await startTestService(data.dir, { watchDir: false, heatmaps: 'none' });
    try {
      const incoming = join(data.dir, 'models', 'incoming');
      writeFileSync(join(incoming, 'broken.onnx'), 'this is not an onnx file');
      await waitFor(() => readdirSync(join(incoming, 'rejected')).some((n) => n.endsWith('.reason.txt')), 20_000, 'the bad model to be rejected');
      expect(readFileSync(join(incoming, 'rejected', 'broken.onnx.reason.txt'), 'utf8')).toMatch(/refused/);
      expect(service.models.active?.version).toBe(2); // the last active version, kept across restarts

      // The default model's file, renamed into place: the same bytes as version 1, so version 1 is
      // activated again (validated first), no new version.
      copyFileSync(caeModel, join(incoming, '.cae.onnx.tmp'));
      renameSync(join(incoming, '.cae.onnx.tmp'), join(incoming, 'cae.onnx'));
      await waitFor(() => existsSync(join(incoming, 'accepted', 'cae.onnx')), 30_000, 'the dropped model to be accepted');
      expect(service.models.active?.version).toBe(1);
      expect((await postImage(service.url, samples[0].bytes)).body.model).toMatchObject({ version: 1 });
      const listed = await getJson(`${service.url}/v1/models`);
      expect(listed.body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
    } finally {
      await service.close();
    }
  });
});
