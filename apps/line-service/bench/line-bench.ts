/**
 * Line service benchmark: sustained images/s and p50 / p99 request latency at 1, 4 and 16
 * concurrent HTTP clients on loopback, per model, next to `residuum inspect`'s batch throughput
 * on the same images in the same run (the CLI with its defaults, its own images/s figure, which
 * excludes model loading). The service runs in its own process, as on a line PC; clients run here.
 *
 *   npm run bench -w apps/line-service            # JSON into apps/line-service/bench-results/
 *   BENCH_MODELS=default BENCH_SECONDS=5 ...       # fewer models / shorter runs
 *   BENCH_MODELS=default,~/.cache/residuum/backbones/x.onnx   # names above, or paths to other models
 *   BENCH_NODE_FLAGS='--single-threaded-gc'        # Node flags of the service process (default: those of the
 *                                                  # `residuum` launcher's shebang, as `residuum serve` runs; 'none' for none)
 *
 * Images: the 24 embedded casting samples (300x300 JPEG), copied to 240 files.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const appDir = fileURLToPath(new URL('../', import.meta.url));
const MODELS: Record<string, string> = {
  // a 64 px reconstruction model and the MobileNet DFR (the shipped default, calibrated)
  'cae-casting': join(root, 'models', 'cae-casting.onnx'),
  default: join(root, 'models', 'default.onnx'),
};
const CLIENTS = [1, 4, 16];
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
/** Service options to try against the defaults, e.g. BENCH_SERVICE_OPTIONS='{"concurrency":1}'. */
const SERVICE_OPTIONS = JSON.parse(process.env.BENCH_SERVICE_OPTIONS ?? '{}') as Record<string, unknown>;
/** Node flags of the service process, e.g. '--single-threaded-gc' (see the README's line-PC unit). */
const NODE_FLAGS = process.env.BENCH_NODE_FLAGS === 'none' ? [] : (process.env.BENCH_NODE_FLAGS ?? launcherNodeFlags()).split(/\s+/).filter(Boolean);

/** The Node flags `residuum serve` runs with: those of the CLI launcher's `#!/usr/bin/env -S node ...` line. */
function launcherNodeFlags(): string {
  const shebang = readFileSync(join(root, 'apps/cli/bin/residuum.js'), 'utf8').split('\n', 1)[0];
  const match = /^#!\/usr\/bin\/env -S node(.*)$/.exec(shebang);
  if (!match) throw new Error(`apps/cli/bin/residuum.js: unexpected launcher line ${JSON.stringify(shebang)}`);
  return match[1];
}
const CLIENT_LEVELS = process.env.BENCH_CLIENTS ? process.env.BENCH_CLIENTS.split(',').map(Number) : CLIENTS;
/** Named models above, or paths to other .onnx files (the ResNet families: `residuum backbone get`, then train). */
const chosen = (process.env.BENCH_MODELS ?? 'cae-casting,default')
  .split(',')
  .map((entry) => entry.trim())
  .filter(Boolean)
  .map((entry) => {
    if (MODELS[entry]) return { name: entry, path: MODELS[entry] };
    const path = resolve(entry.replace(/^~(?=\/)/, process.env.HOME ?? '~'));
    if (!existsSync(path)) throw new Error(`BENCH_MODELS: ${entry} is neither ${Object.keys(MODELS).join(' nor ')} nor an existing file`);
    return { name: basename(path, '.onnx'), path };
  });
if (CLIENT_LEVELS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_CLIENTS: positive integers, got ${process.env.BENCH_CLIENTS}`);

const work = mkdtempSync(join(tmpdir(), 'residuum-line-bench-'));
const imageDir = join(work, 'images');
mkdirSync(imageDir);
const sampleDirs = ['ok_front', 'def_front'].map((d) => join(root, 'models', 'samples', 'casting', d));
const sampleFiles = sampleDirs.flatMap((dir) => readdirSync(dir).filter((n) => n.endsWith('.jpeg')).map((n) => join(dir, n)));
for (let copy = 0; copy < 10; copy += 1) {
  sampleFiles.forEach((file, i) => copyFileSync(file, join(imageDir, `c${copy}-${i}.jpeg`)));
}
const images = readdirSync(imageDir).sort().map((name) => new Uint8Array(readFileSync(join(imageDir, name))));

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** `residuum inspect MODEL DIR` with its defaults (from sources), its reported images/s. */
function inspectBaseline(model: string): { imagesPerSecond: number; latencyP50Ms: number | null; provider: string; images: number } {
  const out = join(work, `inspect-${Date.now()}.json`);
  const run = spawnSync(process.execPath, ['--conditions=@residuum/source', '--import', 'tsx', join(root, 'apps/cli/src/main.ts'), 'inspect', model, imageDir, '--json', out], {
    cwd: root,
    encoding: 'utf8',
  });
  if (run.status !== 0 && run.status !== 1) throw new Error(`residuum inspect failed (${run.status}): ${run.stderr}`);
  const report = JSON.parse(readFileSync(out, 'utf8')) as { provider: string; summary: { imagesPerSecond: number; latencyP50Ms: number | null; total: number } };
  return { imagesPerSecond: round(report.summary.imagesPerSecond), latencyP50Ms: report.summary.latencyP50Ms, provider: report.provider, images: report.summary.total };
}

/**
 * CPU time (user + system, all threads) the service process has used, in ms; null where /proc is
 * missing. Per answered image it is a figure that other work on a shared machine skews far less
 * than images/s or latency. Linux counts it in clock ticks of 10 ms (USER_HZ = 100).
 */
function processCpuMs(pid: number | undefined): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

async function startService(model: string, dataDir: string): Promise<{ url: string; pid: number | undefined; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, '--conditions=@residuum/source', '--import', 'tsx', join(appDir, 'test/fixtures/serve-child.ts'), JSON.stringify({ model, dataDir, watchDir: false, provider: 'auto', ...SERVICE_OPTIONS })],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\S+)/.exec(out);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
  return {
    url,
    pid: child.pid,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function load(url: string, clients: number, seconds: number, servicePid?: number) {
  const cpuBefore = processCpuMs(servicePid);
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const bytes = images[next++ % images.length];
        const t = performance.now();
        const response = await fetch(`${url}/v1/inspect`, { method: 'POST', body: bytes as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'image/jpeg' } });
        await response.arrayBuffer();
        latencies.push(performance.now() - t);
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      }
    }),
  );
  const wall = (performance.now() - started) / 1000;
  const cpuAfter = processCpuMs(servicePid);
  latencies.sort((a, b) => a - b);
  return {
    clients,
    requests: latencies.length,
    statuses,
    imagesPerSecond: round(latencies.length / wall),
    latencyP50Ms: round(percentile(latencies, 0.5)),
    latencyP99Ms: round(percentile(latencies, 0.99)),
    serviceCpuMsPerImage: cpuBefore === null || cpuAfter === null ? null : round((cpuAfter - cpuBefore) / latencies.length, 1),
  };
}

// The machine's load around the run: other work on the same cores skews every figure here.
const loadBefore = loadavg().map((v) => round(v));
const results = [];
try {
  for (const { name, path: model } of chosen) {
    console.error(`\n== ${name}: residuum inspect baseline`);
    const baseline = inspectBaseline(model);
    console.error(`   ${baseline.imagesPerSecond} images/s (${baseline.provider})`);
    const dataDir = join(work, `data-${name}`);
    const service = await startService(model, dataDir);
    const runs = [];
    try {
      await load(service.url, 4, 1); // warm the connections and the allocator
      for (const clients of CLIENT_LEVELS) {
        const run = await load(service.url, clients, SECONDS, service.pid);
        console.error(
          `   ${clients} clients: ${run.imagesPerSecond} images/s, p50 ${run.latencyP50Ms} ms, p99 ${run.latencyP99Ms} ms, ` +
            `service CPU ${run.serviceCpuMsPerImage} ms per image, statuses ${JSON.stringify(run.statuses)}`,
        );
        runs.push(run);
      }
    } finally {
      await service.stop();
    }
    const at16 = runs.find((r) => r.clients === 16);
    const at1 = runs.find((r) => r.clients === 1);
    results.push({
      model: { name, file: model.startsWith(root) ? model.slice(root.length) : model, sha256: sha256(model), bytes: readFileSync(model).length },
      inspectBatch: baseline,
      service: runs,
      throughputAt16VsBatch: at16 ? round(at16.imagesPerSecond / baseline.imagesPerSecond, 3) : null,
      targets: {
        'throughput at 16 clients >= 80 % of batch': at16 ? at16.imagesPerSecond >= 0.8 * baseline.imagesPerSecond : null,
        'p99 <= 50 ms at 1 client': at1 ? at1.latencyP99Ms <= 50 : null,
      },
    });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const report = {
  benchmark: 'line-service',
  createdAt: new Date().toISOString(),
  serviceNodeFlags: NODE_FLAGS,
  serviceOptions: SERVICE_OPTIONS,
  machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, loadAverage1_5_15: { before: loadBefore, after: loadavg().map((v) => round(v)) } },
  images: { count: images.length, what: '24 embedded casting samples (300x300 JPEG) x 10 copies', secondsPerClientLevel: SECONDS },
  notes: [
    'service: residuum serve defaults (batch up to 8 of whatever waits, 2 batches in flight, heatmap file for every result, synchronous=FULL commit per batch), in its own process; HTTP clients on loopback in the benchmark process',
    'inspectBatch: residuum inspect MODEL DIR with its defaults on the same images, its own images/s (model load excluded)',
    'ResNet-family models: none is shipped in models/; BENCH_MODELS=cae-casting,default,<path> measures a Residuum model file (ONNX with its card) built on a ResNet backbone beside the defaults, its file and sha256 named in its result (the raw backbones in ~/.cache/residuum/backbones are not models)',
  ],
  results,
};
const outDir = join(appDir, 'bench-results');
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, 'line-bench.json');
writeFileSync(outFile, JSON.stringify(report, null, 2) + '\n');
console.log(JSON.stringify(report, null, 2));
console.error(`\nwritten: ${outFile}`);
