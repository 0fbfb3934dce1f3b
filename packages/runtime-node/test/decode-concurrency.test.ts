/** decodeConcurrency: how many images sharp decodes at once, counted at the decoder. */
import type { InspectionSuccess } from '@residuum/inspection';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createNodeInspector } from '../src/index.js';
import { fixturePath, randomPixels, tempDir, writePng } from './helpers.js';
import { join } from 'node:path';

const decoding = { active: 0, peak: 0 };

vi.mock('@residuum/imaging', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@residuum/imaging')>();
  return {
    ...actual,
    async decodeImage(...args: Parameters<typeof actual.decodeImage>) {
      decoding.active += 1;
      decoding.peak = Math.max(decoding.peak, decoding.active);
      try {
        // Long enough that unlimited decodes would overlap.
        await new Promise((resolve) => setTimeout(resolve, 5));
        return await actual.decodeImage(...args);
      } finally {
        decoding.active -= 1;
      }
    },
  };
});

let paths: string[];

beforeAll(async () => {
  const dir = tempDir();
  paths = [];
  for (let i = 0; i < 12; i++) {
    const path = join(dir, `part-${i}.png`);
    await writePng(path, randomPixels(16, 16, 1, 300 + i), 16, 16, 1);
    paths.push(path);
  }
});

afterEach(() => {
  decoding.active = 0;
  decoding.peak = 0;
});

async function inspectWith(decodeConcurrency: number | undefined): Promise<{ scores: number[]; peak: number }> {
  const inspector = await createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'cpu', batchSize: 4, queueDepth: 2, threads: 1, warmup: false, decodeConcurrency });
  try {
    decoding.peak = 0;
    const results = (await inspector.inspect(paths)) as InspectionSuccess[];
    expect(results.map((r) => r.source)).toEqual(paths);
    return { scores: results.map((r) => r.score), peak: decoding.peak };
  } finally {
    await inspector.dispose();
  }
}

describe('decodeConcurrency', () => {
  it('bounds the decodes in flight and changes no result', async () => {
    const one = await inspectWith(1);
    const three = await inspectWith(3);
    const eight = await inspectWith(8);
    expect(one.peak).toBe(1);
    expect(three.peak).toBe(3);
    // Two batches of 4 decoded ahead: 8 decodes can be in flight.
    expect(eight.peak).toBe(8);
    expect(three.scores).toEqual(one.scores);
    expect(eight.scores).toEqual(one.scores);
  });

  it('rejects a bad value', async () => {
    await expect(createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'cpu', decodeConcurrency: 0 })).rejects.toThrow(/decodeConcurrency must be a positive integer, got 0/);
  });
});
