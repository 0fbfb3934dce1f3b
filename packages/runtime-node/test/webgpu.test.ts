import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { InspectionSuccess } from '@residuum/inspection';
import { describe, expect, it } from 'vitest';
import { createNodeInspector } from '../src/index.js';
import { fixturePath, testRandom } from './helpers.js';

const CHROMIUM_LIBS = '/usr/lib/chromium';
const SWIFTSHADER_ICD = `${CHROMIUM_LIBS}/vk_swiftshader_icd.json`;

describe('webgpu provider on the SwiftShader Vulkan driver', () => {
  it('gives the same reconstruction and scores as CPU within 1e-4 (one inference of 2 images)', async () => {
    if (!existsSync(SWIFTSHADER_ICD) || !existsSync(`${CHROMIUM_LIBS}/libvulkan.so.1`)) {
      throw new Error(`this test needs Debian's chromium package (${SWIFTSHADER_ICD} and ${CHROMIUM_LIBS}/libvulkan.so.1): apt-get install chromium`);
    }
    const random = testRandom(31);
    const inputs = [0, 1].map(() => Array.from({ length: 256 }, () => random()));
    const child = spawnSync(
      process.execPath,
      ['--conditions=@residuum/source', '--import', 'tsx', fileURLToPath(new URL('./webgpu-child.ts', import.meta.url)), fixturePath('tiny-ae.onnx')],
      {
        input: JSON.stringify(inputs),
        encoding: 'utf8',
        timeout: 90_000,
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: { ...process.env, LD_LIBRARY_PATH: CHROMIUM_LIBS, VK_ICD_FILENAMES: SWIFTSHADER_ICD },
      },
    );
    if (child.status !== 0) throw new Error(`webgpu child failed (status ${child.status}):\n${child.stderr}`);
    const webgpu = JSON.parse(child.stdout) as {
      provider: string;
      attempts: unknown[];
      results: Array<{ provider: string; score: number; reconstruction: number[] }>;
    };
    expect(webgpu.provider).toBe('webgpu');
    expect(webgpu.attempts).toEqual([{ provider: 'webgpu', ok: true }]);

    const cpu = await createNodeInspector(fixturePath('tiny-ae.onnx'), { provider: 'cpu', warmup: false });
    try {
      const reference = (await cpu.inspectTensors(
        inputs.map((values, i) => ({ source: `tensor-${i}`, input: { data: Float32Array.from(values), channels: 1, height: 16, width: 16 } })),
        { returnMaps: true },
      )) as InspectionSuccess[];
      webgpu.results.forEach((result, i) => {
        expect(result.provider).toBe('webgpu');
        expect(Math.abs(result.score - reference[i].score)).toBeLessThan(1e-4);
        const maxDifference = Math.max(...result.reconstruction.map((v, j) => Math.abs(v - reference[i].reconstruction!.data[j])));
        expect(maxDifference).toBeLessThan(1e-4);
      });
    } finally {
      await cpu.dispose();
    }
  });
});
