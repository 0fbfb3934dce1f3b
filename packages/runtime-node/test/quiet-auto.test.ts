import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixturePath } from './helpers.js';

describe("logLevel 'fatal'", () => {
  it('keeps onnxruntime from printing the expected CUDA failure of auto, which is still recorded', () => {
    const child = spawnSync(
      process.execPath,
      ['--conditions=@residuum/source', '--import', 'tsx', fileURLToPath(new URL('./auto-child.ts', import.meta.url)), fixturePath('tiny-ae.onnx')],
      { encoding: 'utf8', timeout: 60_000, cwd: fileURLToPath(new URL('..', import.meta.url)) },
    );
    if (child.status !== 0) throw new Error(`auto child failed (status ${child.status}):\n${child.stderr}`);
    const { provider, attempts } = JSON.parse(child.stdout) as { provider: string; attempts: Array<{ provider: string; ok: boolean }> };
    expect(attempts[attempts.length - 1]).toEqual({ provider, ok: true });
    expect(attempts[0].provider).toBe('cuda');
    expect(child.stderr).not.toMatch(/onnxruntime/i);
  });
});
