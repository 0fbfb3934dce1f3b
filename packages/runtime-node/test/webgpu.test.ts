import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { InspectionSuccess } from '@residuum/inspection';
import { describe, expect, it } from 'vitest';
import { createNodeInspector } from '../src/index.js';
import { fixturePath, testRandom } from './helpers.js';

const CHROMIUM_LIBS = '/usr/lib/chromium';
const SWIFTSHADER_ICD = `${CHROMIUM_LIBS}/vk_swiftshader_icd.json`;

const DEFAULT_MODEL = fileURLToPath(new URL('../../../models/cae-casting.onnx', import.meta.url));

describe('webgpu provider on the SwiftShader Vulkan driver', () => {
  // The shipped default model computes its 1 - SSIM map in the graph (the converter's scoring
  // head): its Gather-built borders and grouped convolutions must hold on WebGPU too.
  const models = [
    { name: 'the tiny fixture (map computed in JS)', path: fixturePath('tiny-ae.onnx'), size: 16 },
    { name: 'models/cae-casting.onnx (map computed in the graph)', path: DEFAULT_MODEL, size: 64 },
  ];
  for (const model of models) {
    it(`gives the same reconstruction, map and scores as CPU within 1e-4 (one inference of 2 images): ${model.name}`, async () => {
      if (!existsSync(SWIFTSHADER_ICD) || !existsSync(`${CHROMIUM_LIBS}/libvulkan.so.1`)) {
        throw new Error(`this test needs Debian's chromium package (${SWIFTSHADER_ICD} and ${CHROMIUM_LIBS}/libvulkan.so.1): apt-get install chromium`);
      }
      const random = testRandom(31);
      const plane = model.size * model.size;
      // Smooth-ish images in [0, 1] with texture, so SSIM varies over the map.
      const inputs = [0, 1].map(() => Array.from({ length: plane }, (_, p) => 0.5 + 0.3 * Math.sin(p / 7) * random()));
      const child = spawnSync(
        process.execPath,
        ['--conditions=@residuum/source', '--import', 'tsx', fileURLToPath(new URL('./webgpu-child.ts', import.meta.url)), model.path, String(model.size)],
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
        results: Array<{ provider: string; score: number; reconstruction: number[]; map: number[] }>;
      };
      expect(webgpu.provider).toBe('webgpu');
      expect(webgpu.attempts).toEqual([{ provider: 'webgpu', ok: true }]);

      const cpu = await createNodeInspector(model.path, { provider: 'cpu', warmup: false });
      try {
        const reference = (await cpu.inspectTensors(
          inputs.map((values, i) => ({ source: `tensor-${i}`, input: { data: Float32Array.from(values), channels: 1, height: model.size, width: model.size } })),
          { returnMaps: true },
        )) as InspectionSuccess[];
        webgpu.results.forEach((result, i) => {
          expect(result.provider).toBe('webgpu');
          expect(Math.abs(result.score - reference[i].score)).toBeLessThan(1e-4);
          const maxDifference = (a: number[], b: Float32Array) => Math.max(...a.map((v, j) => Math.abs(v - b[j])));
          expect(maxDifference(result.reconstruction, reference[i].reconstruction!.data)).toBeLessThan(1e-4);
          expect(maxDifference(result.map, reference[i].map!.data)).toBeLessThan(1e-4);
        });
      } finally {
        await cpu.dispose();
      }
    });
  }
});
