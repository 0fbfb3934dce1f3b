import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

const PYTHON = '/usr/bin/python3';

/** onnx.checker.check_model(full_check=True) with Debian's python3-onnx; throws with its message. */
export function checkOnnx(bytes: Uint8Array): void {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} not found: install Debian's python3-onnx`);
  const dir = mkdtempSync(join(tmpdir(), 'dfr-onnx-check-'));
  try {
    const file = join(dir, 'model.onnx');
    writeFileSync(file, bytes);
    const run = spawnSync(PYTHON, ['-c', 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print("OK")', file], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: '' },
    });
    if (run.status !== 0 || !run.stdout.includes('OK')) throw new Error(`onnx.checker rejected the DFR model (exit ${run.status}): ${run.stderr || run.stdout}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
