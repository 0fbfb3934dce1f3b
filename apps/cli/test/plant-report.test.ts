/** The plant report's rendering (pure) and `report` / `serve` argument errors. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/commands/report.js';
import { renderPlantReport } from '../src/report/plant-report.js';
import { makeTempDir, residuum } from './helpers.js';

const data = {
  generator: 'residuum 9.9.9',
  generatedAt: '2026-12-05T12:00:00.000Z',
  central: 'postgres://plant:***@db/plant',
  since: '2026-12-04T12:00:00.000Z',
  until: '2026-12-05T12:00:00.000Z',
  bucketSeconds: 1800,
  groups: [
    { line: 'press-<1>', station: 's1', modelVersion: 1, modelName: 'cae', results: 100, anomalous: 4, errors: 1 },
    { line: 'press-<1>', station: 's1', modelVersion: 2, modelName: 'cae', results: 50, anomalous: 0, errors: 0 },
    { line: 'press-2', station: null, modelVersion: 1, modelName: 'dfr', results: 10, anomalous: 5, errors: 0 },
  ],
  series: [{ line: 'press-<1>', points: [{ start: '2026-12-05T10:00:00.000Z', results: 150, rejected: 5 }] }, { line: 'press-2', points: [{ start: '2026-12-05T11:00:00.000Z', results: 10, rejected: 5 }] }],
  top: [{ line: 'press-2', station: null, resultId: '01KBQ0000000000000000000AA', capturedAt: '2026-12-05T11:10:00.000Z', partId: 'A<17>', score: 0.5, normalizedScore: 2.5, threshold: 0.2, modelVersion: 1 }],
};

describe('plant report', () => {
  it('renders rates per line, station and model version, the time chart and the top anomalies, escaped', () => {
    const html = renderPlantReport(data);
    expect(html).toContain('<meta name="generator" content="residuum 9.9.9">');
    expect(html).toMatch(/data-metric="results"><div class="name">results<\/div><div class="value">160</);
    expect(html).toMatch(/data-metric="rate">.*?<div class="value">6\.3%/);
    expect(html).toContain('press-&lt;1&gt;');
    expect(html).not.toContain('press-<1>');
    expect(html).toMatch(/<td data-rate>50(\.0)? ?%<\/td>/);
    expect(html).toContain('<svg class="chart"');
    expect(html).toContain('A&lt;17&gt;');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it('parses --since durations and refuses others', () => {
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('90m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(() => parseDuration('yesterday')).toThrow(/--since must be a duration/);
    expect(() => parseDuration('0h')).toThrow(/--since/);
  });

  it('report and serve name a malformed URL or config key and exit non-zero', async () => {
    const temp = await makeTempDir('plant');
    try {
      const report = await residuum(['report', '--central', 'mysql://db/plant', '--out', join(temp.dir, 'p.html')]);
      expect(report.code).not.toBe(0);
      expect(report.err).toMatch(/--central: the scheme must be postgres: or postgresql:/);
      const serve = await residuum(['serve', '--port', '0', '--data-dir', temp.dir, '--mqtt', 'not a url']);
      expect(serve.code).not.toBe(0);
      expect(serve.err).toMatch(/--mqtt: not a valid URL/);
      await writeFile(join(temp.dir, 'line.yaml'), 'line: press-3\nwebhook:\n  url: http://127.0.0.1:9/hook\n  sekret: x\n');
      const config = await residuum(['serve', '--config', join(temp.dir, 'line.yaml')]);
      expect(config.code).not.toBe(0);
      expect(config.err).toMatch(/webhook\.sekret: unknown key/);
    } finally {
      await temp.cleanup();
    }
  });
});

describe('serve --config', () => {
  it('starts with the file (paths relative to it, destinations wired) and a flag wins over the file', async () => {
    const { spawn } = await import('node:child_process');
    const { createServer } = await import('node:http');
    const { existsSync } = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const bodies: Array<Record<string, unknown>> = [];
    const hook = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        bodies.push(JSON.parse(text) as Record<string, unknown>);
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const address = hook.address();
    const hookPort = typeof address === 'object' && address ? address.port : 0;
    const temp = await makeTempDir('serve-config');
    const config = join(temp.dir, 'line.yaml');
    await writeFile(config, `line: file-line\nport: 0\ndataDir: data\nwatch: false\nep: cpu\nlogLevel: info\nwebhook:\n  url: http://127.0.0.1:${hookPort}/hook\n  events: [model]\n`);
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=@residuum/source', '--import', 'tsx', main, 'serve', '--config', config, '--line', 'flag-line'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let output = '';
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /"url":"(http:[^"]+)"[^\n]*line service listening/.exec(output);
          if (match) resolve(match[1]);
        });
        child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${output}`)));
      });
      const ready = (await (await fetch(`${url}/readyz`)).json()) as { destinations: { backlog: Record<string, number> } };
      expect(Object.keys(ready.destinations.backlog)).toEqual(['webhook']);
      const deadline = Date.now() + 15_000;
      while (bodies.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(bodies[0]).toMatchObject({ kind: 'model', line: 'flag-line' });
      expect(existsSync(join(temp.dir, 'data', 'results.sqlite'))).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      hook.close();
      await temp.cleanup();
    }
  }, 60_000);
});
