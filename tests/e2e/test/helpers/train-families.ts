/** Small helpers for the end-to-end family tests (train -> export -> run); kept here so @residuum/train exports no test utilities. */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackboneSpec } from '@residuum/train';
import { seededRandom } from '../../../../tools/onnx-converter/test/helpers/tfjs-harness.js';

/**
 * Uniform [min, max) draws from the same mulberry32 stream as @residuum/train's createRandom(seed)
 * (which seeds with seed ^ 0x9e3779b9), so the synthetic images equal the ones train's own tests use.
 */
export function seededUniform(seed: number): (min: number, max: number) => number {
  const next = seededRandom((Math.floor(seed) ^ 0x9e3779b9) >>> 0);
  return (min, max) => min + (max - min) * next();
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'residuum-e2e-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const SHARED_BACKBONE_025 = join(REPO_ROOT, '..', 'shared', 'backbones', 'mobilenet_v1_0.25_224');

/** The fast 0.25 MobileNet from ../shared; fails (never skips) when the shared folder is missing. */
export function testBackbone(taps: string[] = ['conv_pw_1_relu', 'conv_pw_3_relu', 'conv_pw_5_relu', 'conv_pw_11_relu']): BackboneSpec {
  if (!existsSync(join(SHARED_BACKBONE_025, 'model.json'))) {
    throw new Error(`DFR conversion tests need the MobileNet v1 0.25 backbone at ${SHARED_BACKBONE_025} (the workplace's ../shared/backbones); it is missing`);
  }
  return { dir: SHARED_BACKBONE_025, taps, inputMean: 0.5, inputStd: 0.5, name: 'mobilenet_v1_0.25_224' };
}
