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
