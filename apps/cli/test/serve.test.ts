/**
 * `residuum serve`: the flags reach the line service. Started as a real process with no model
 * argument (the embedded default model), on a free loopback port; SIGTERM stops it cleanly.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, makeTempDir, residuum } from './helpers.js';

describe('residuum serve', () => {
  it('has its own help with examples', async () => {
    const run = await residuum(['serve', '--help']);
    expect(run.code).toBe(0);
    expect(run.out).toContain('Usage: residuum serve [options] [model]');
    expect(run.out).toMatch(/--data-dir <dir>[\s\S]*--port <n>|--port <n>[\s\S]*--data-dir <dir>/);
    expect(run.out).toContain('Examples:');
  });

  it('refuses a missing model and a bad port with exit 2', async () => {
    const { dir, cleanup } = await makeTempDir('serve-bad');
    try {
      const missing = await residuum(['serve', join(dir, 'nope.onnx'), '--port', '0', '--data-dir', dir, '--no-watch', '--log-level', 'fatal']);
      expect(missing.code).toBe(2);
      expect(missing.err).toMatch(/nope\.onnx: file not found/);
      const badPort = await residuum(['serve', '--port', 'eighty']);
      expect(badPort.code).toBe(2);
      expect(badPort.err).toMatch(/--port must be a whole number >= 0/);
    } finally {
      await cleanup();
    }
  });

  it('serves the embedded default model with no model argument and stops on SIGTERM', async () => {
    const { dir, cleanup } = await makeTempDir('serve-run');
    const child = spawn(
      process.execPath,
      ['--conditions=@residuum/source', '--import', 'tsx', join(REPO_ROOT, 'apps/cli/src/main.ts'), 'serve', '--port', '0', '--data-dir', join(dir, 'line'), '--no-watch'],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
          if (match) resolve(match[1]);
        });
        child.once('exit', (code) => reject(new Error(`residuum serve exited with ${code}: ${out}`)));
      });
      const ready = (await (await fetch(`${url}/readyz`)).json()) as { ready: boolean; model: { name: string } };
      expect(ready).toMatchObject({ ready: true, model: { name: 'dfr-mobilenet_v1_0.75_224-224px-grey' } });
      const image = readFileSync(join(REPO_ROOT, 'models/samples/casting/ok_front/cast_ok_0_10.jpeg'));
      const verdict = (await (await fetch(`${url}/v1/inspect`, { method: 'POST', body: image, headers: { 'content-type': 'image/jpeg' } })).json()) as { verdict: string };
      expect(verdict.verdict).toBe('ok');
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await cleanup();
    }
  });
});
