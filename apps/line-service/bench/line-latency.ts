/**
 * Where the 1-client tail comes from: sequential requests to the service (in its own process, as
 * in line-bench.ts), each answer's own latency split, the client's round trip, and the service's
 * garbage-collection pauses and event-loop delay. Variants (service options, Node flags) run
 * alternately, a fresh service each round, so a load swing on a shared machine hits all of them.
 *
 *   LAT_VARIANTS='[{"name":"default"},{"name":"semi32","nodeFlags":["--max-semi-space-size=32"]}]' \
 *   LAT_ROUNDS=3 LAT_REQUESTS=200 npm run bench:latency -w apps/line-service
 *
 * JSON into bench-results/line-latency.json. Per variant: percentiles over all rounds' requests
 * pooled, each round's p99, and the slowest 5 % of requests taken apart (mean of each stage, how
 * many had a GC pause inside them).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const appDir = fileURLToPath(new URL('../', import.meta.url));
interface Variant {
  name: string;
  options?: Record<string, unknown>;
  nodeFlags?: string[];
}
const variants = JSON.parse(process.env.LAT_VARIANTS ?? '[{"name":"default"}]') as Variant[];
const ROUNDS = Number(process.env.LAT_ROUNDS ?? 3);
const REQUESTS = Number(process.env.LAT_REQUESTS ?? 200);
const WARMUP = 30;
const model = process.env.LAT_MODEL ?? join(root, 'models', 'default.onnx');

const sampleDirs = ['ok_front', 'def_front'].map((d) => join(root, 'models', 'samples', 'casting', d));
const images = sampleDirs
  .flatMap((dir) => readdirSync(dir).filter((n) => n.endsWith('.jpeg')).sort().map((n) => join(dir, n)))
  .map((file) => new Uint8Array(readFileSync(file)));

interface Sample {
  startedAt: number;
  endedAt: number;
  client: number;
  stages: Record<string, number>;
  verdict: string;
}
interface GcPause {
  at: number;
  ms: number;
  kind: string;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}
const r2 = (v: number) => Math.round(v * 100) / 100;

async function startService(variant: Variant, dataDir: string) {
  const child = spawn(
    process.execPath,
    [...(variant.nodeFlags ?? []), '--conditions=@residuum/source', '--import', 'tsx', join(appDir, 'bench/serve-diag.ts'), JSON.stringify({ model, dataDir, ...variant.options })],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  const diagWaiters: Array<(diag: { gcPauses: GcPause[]; gc: unknown; loopDelayMs: unknown }) => void> = [];
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const ready = /READY (\S+)/.exec(out);
      if (ready) {
        resolve(ready[1]);
        out = out.slice(ready.index + ready[0].length);
      }
      let newline: number;
      while ((newline = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, newline);
        out = out.slice(newline + 1);
        if (line.startsWith('DIAG ')) diagWaiters.shift()?.(JSON.parse(line.slice(5)));
      }
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
  return {
    url,
    diag: () => new Promise<{ gcPauses: GcPause[]; gc: unknown; loopDelayMs: unknown }>((resolve) => (diagWaiters.push(resolve), child.kill('SIGUSR2'))),
    stop: () => new Promise<void>((resolve) => (child.once('exit', () => resolve()), child.kill('SIGTERM'))),
  };
}

async function sequential(url: string, count: number, offset: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = 0; i < count; i += 1) {
    const bytes = images[(offset + i) % images.length];
    const startedAt = performance.timeOrigin + performance.now();
    const t = performance.now();
    const response = await fetch(`${url}/v1/inspect`, { method: 'POST', body: bytes as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'image/jpeg' } });
    const body = (await response.json()) as { verdict: string; latencyMs: Record<string, number> };
    const client = performance.now() - t;
    if (response.status !== 200) throw new Error(`status ${response.status}: ${JSON.stringify(body)}`);
    samples.push({ startedAt, endedAt: startedAt + client, client, stages: { ...body.latencyMs, http: client - body.latencyMs.total }, verdict: body.verdict });
  }
  return samples;
}

function summarize(samples: Sample[], pauses: GcPause[]) {
  const stageNames = ['client', 'http', 'total', 'queue', 'decode', 'preprocess', 'inspect', 'inference', 'scoring', 'files', 'commit', 'store'];
  const stages: Record<string, { p50: number; p90: number; p99: number; max: number }> = {};
  for (const name of stageNames) {
    const values = samples.map((s) => (name === 'client' ? s.client : s.stages[name])).filter((v) => v !== undefined).sort((a, b) => a - b);
    if (values.length) stages[name] = { p50: r2(percentile(values, 0.5)), p90: r2(percentile(values, 0.9)), p99: r2(percentile(values, 0.99)), max: r2(values[values.length - 1]) };
  }
  const slowest = [...samples].sort((a, b) => b.client - a.client).slice(0, Math.max(1, Math.round(samples.length * 0.05)));
  const slowMeans: Record<string, number> = {};
  for (const name of stageNames.slice(1)) slowMeans[name] = r2(slowest.reduce((sum, s) => sum + (s.stages[name] ?? 0), 0) / slowest.length);
  slowMeans.client = r2(slowest.reduce((sum, s) => sum + s.client, 0) / slowest.length);
  const inside = (s: Sample) => pauses.filter((p) => p.at >= s.startedAt && p.at <= s.endedAt);
  const byVerdict: Record<string, Record<string, { p50: number; p99: number }>> = {};
  for (const verdict of new Set(samples.map((s) => s.verdict))) {
    const group = samples.filter((s) => s.verdict === verdict);
    byVerdict[verdict] = {};
    for (const name of ['client', 'files', 'commit', 'store']) {
      const values = group.map((s) => (name === 'client' ? s.client : s.stages[name])).filter((v) => v !== undefined).sort((a, b) => a - b);
      byVerdict[verdict][name] = { p50: r2(percentile(values, 0.5)), p99: r2(percentile(values, 0.99)) };
    }
  }
  return {
    requests: samples.length,
    byVerdict,
    rejects: samples.filter((s) => s.verdict !== 'ok').length,
    stages,
    slowest5pct: {
      count: slowest.length,
      meanMs: slowMeans,
      withGcPause: slowest.filter((s) => inside(s).length > 0).length,
      gcMsInside: r2(slowest.reduce((sum, s) => sum + inside(s).reduce((a, p) => a + p.ms, 0), 0)),
    },
    allWithGcPause: samples.filter((s) => inside(s).length > 0).length,
  };
}

const work = mkdtempSync(join(tmpdir(), 'residuum-line-latency-'));
const perVariant = new Map<string, { samples: Sample[]; pauses: GcPause[]; rounds: Array<Record<string, unknown>> }>();
const loadBefore = loadavg().map(r2);
try {
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const variant of variants) {
      const dataDir = join(work, `${variant.name}-${round}`);
      const service = await startService(variant, dataDir);
      try {
        await sequential(service.url, WARMUP, 0);
        await service.diag();
        const samples = await sequential(service.url, REQUESTS, WARMUP);
        const diag = await service.diag();
        const entry = perVariant.get(variant.name) ?? { samples: [], pauses: [], rounds: [] };
        entry.samples.push(...samples);
        entry.pauses.push(...diag.gcPauses);
        const summary = summarize(samples, diag.gcPauses);
        entry.rounds.push({ round, load1: r2(loadavg()[0]), client: summary.stages.client, gc: diag.gc, loopDelayMs: diag.loopDelayMs });
        perVariant.set(variant.name, entry);
        const s = summary.stages;
        console.error(
          `round ${round} ${variant.name.padEnd(12)} load ${loadavg()[0].toFixed(1)}  client p50 ${s.client.p50} p99 ${s.client.p99} | ` +
            ['decode', 'inference', 'files', 'commit', 'http'].map((k) => `${k} ${s[k]?.p50}/${s[k]?.p99}`).join('  '),
        );
      } finally {
        await service.stop();
      }
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const report = {
  benchmark: 'line-service 1-client latency, alternating variants',
  createdAt: new Date().toISOString(),
  model: model.startsWith(root) ? model.slice(root.length) : model,
  requestsPerRound: REQUESTS,
  rounds: ROUNDS,
  loadAverage1_5_15: { before: loadBefore, after: loadavg().map(r2) },
  variants: variants.map((v) => {
    const entry = perVariant.get(v.name)!;
    return { ...v, ...summarize(entry.samples, entry.pauses), rounds: entry.rounds };
  }),
};
const outDir = join(appDir, 'bench-results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'line-latency.json'), JSON.stringify(report, null, 2) + '\n');
for (const v of report.variants) {
  console.error(`\n${v.name}: ${JSON.stringify(v.stages)}\n  slowest 5%: ${JSON.stringify(v.slowest5pct)}\n  requests with a GC pause: ${v.allWithGcPause}/${v.requests}`);
}
