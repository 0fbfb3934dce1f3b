import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackboneSpec } from '../../src/families/dfr/index.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const SHARED_BACKBONE_025 = join(REPO_ROOT, '..', 'shared', 'backbones', 'mobilenet_v1_0.25_224');

/** The fast 0.25 MobileNet from ../shared; fails (never skips) when the shared folder is missing. */
export function testBackbone(taps: string[] = ['conv_pw_1_relu', 'conv_pw_3_relu', 'conv_pw_5_relu', 'conv_pw_11_relu']): BackboneSpec {
  if (!existsSync(join(SHARED_BACKBONE_025, 'model.json'))) {
    throw new Error(`DFR tests need the MobileNet v1 0.25 backbone at ${SHARED_BACKBONE_025} (the workplace's ../shared/backbones); it is missing`);
  }
  return { dir: SHARED_BACKBONE_025, taps, inputMean: 0.5, inputStd: 0.5, name: 'mobilenet_v1_0.25_224' };
}
