/**
 * Why browser WASM inference is slower than runtime-node, without a browser: onnxruntime-web's
 * WASM build (the same ort-wasm-simd-threaded.wasm the dashboard serves) runs in Node's V8 next
 * to onnxruntime-node's native CPU provider, one thread each, on the same models:
 * - whole model (batch 1), interleaved rounds so both see the same machine load;
 * - per layer (bench/split_layers.py cuts the model into one small model per layer), with the
 *   multiply-adds of each convolution, so each runtime's GFLOP/s is visible;
 * - onnxruntime-web session options (optimization level, static batch, memory pattern) on the
 *   whole model, interleaved.
 * Writes bench-results/wasm-vs-native.json. Run: npm run bench:wasm -w apps/dashboard (npm run bench runs it after browser-vs-node).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web/wasm';

const appDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(appDir, '..', '..');
const resultsDir = join(appDir, 'bench-results');
const layersDir = join(resultsDir, 'models', 'layers');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const RUNS_PER_ROUND = 10;
const WARMUP_RUNS = 30;

mkdirSync(layersDir, { recursive: true });
const benchCae = join(resultsDir, 'models', 'bench-cae-128.onnx');
if (!existsSync(benchCae)) {
  execFileSync('/usr/bin/python3', [join(repoRoot, 'packages', 'runtime-node', 'bench', 'make_bench_cae.py'), '128', benchCae], { stdio: 'inherit' });
}
const models = [
  { name: 'cae-casting.onnx (CAE 64x64 grey, the default model until issue 14)', key: 'default64', path: join(repoRoot, 'models', 'cae-casting.onnx') },
  { name: 'bench-cae-128 (untrained CAE 128x128 grey)', key: 'cae128', path: benchCae },
];

// The same binary the dashboard serves from ort/, given as bytes (Node's fetch cannot read file: URLs).
const require = createRequire(import.meta.url);
ortWeb.env.wasm.wasmBinary = readFileSync(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
ortWeb.env.wasm.numThreads = 1;

type Runtime = 'native' | 'wasm';
interface Runner {
  run(): Promise<void>;
}

async function open(runtime: Runtime, bytes: Uint8Array, options: ortWeb.InferenceSession.SessionOptions = {}): Promise<Runner> {
  const session =
    runtime === 'native'
      ? await ortNode.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', ...(options as ortNode.InferenceSession.SessionOptions) })
      : await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', ...options });
  const ort = runtime === 'native' ? ortNode : ortWeb;
  const input = session.inputNames[0];
  const dims = dimsOf(session);
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 997) / 997;
  const feeds = { [input]: new ort.Tensor('float32', data, dims) };
  const runner = { run: async () => void (await (session as ortWeb.InferenceSession).run(feeds as Record<string, ortWeb.Tensor>)) };
  for (let i = 0; i < WARMUP_RUNS; i++) await runner.run();
  return runner;
}

/** Batch 1, the rest from the model's input metadata (the layer models are fully static). */
function dimsOf(session: { inputMetadata: readonly unknown[] }): number[] {
  const meta = session.inputMetadata[0] as { shape?: ReadonlyArray<number | string> };
  if (!meta.shape) throw new Error('input without a shape');
  return meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
}

/** Interleaved: each round runs every runner RUNS_PER_ROUND times, so load changes hit all alike. */
async function interleaved(runners: Record<string, Runner>): Promise<Record<string, { medianMs: number; minMs: number }>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(runners).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [key, runner] of Object.entries(runners)) {
      for (let i = 0; i < RUNS_PER_ROUND; i++) {
        const started = performance.now();
        await runner.run();
        times[key].push(performance.now() - started);
      }
    }
  }
  return Object.fromEntries(
    Object.entries(times).map(([key, values]) => {
      values.sort((a, b) => a - b);
      return [key, { medianMs: round3(values[Math.floor(values.length / 2)]), minMs: round3(values[0]) }];
    }),
  );
}

interface LayerResult {
  op: string;
  input: string;
  output: string;
  mmacs: number;
  nativeMedianMs: number;
  wasmMedianMs: number;
  wasmOverNative: number;
  nativeGflops?: number;
  wasmGflops?: number;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const round2 = (v: number) => Math.round(v * 100) / 100;
const load = () => loadavg().map(round2);

const results = [];
for (const model of models) {
  console.error(`== ${model.name}`);
  const bytes = new Uint8Array(readFileSync(model.path));
  const loadBefore = load();
  const whole = await interleaved({ native: await open('native', bytes), wasm: await open('wasm', bytes) });
  const options = await interleaved({
    'all (runtime-web default)': await open('wasm', bytes, { graphOptimizationLevel: 'all' }),
    basic: await open('wasm', bytes, { graphOptimizationLevel: 'basic' }),
    extended: await open('wasm', bytes, { graphOptimizationLevel: 'extended' }),
    'all + freeDimensionOverrides N=1': await open('wasm', bytes, { graphOptimizationLevel: 'all', freeDimensionOverrides: { N: 1 } }),
    'all + enableMemPattern false': await open('wasm', bytes, { graphOptimizationLevel: 'all', enableMemPattern: false }),
  });
  const listing = execFileSync('/usr/bin/python3', [join(appDir, 'bench', 'split_layers.py'), model.path, layersDir, model.key], { encoding: 'utf8' });
  const layers: LayerResult[] = [];
  for (const line of listing.trim().split('\n')) {
    const layer = JSON.parse(line) as { file: string; op: string; input: number[]; output: number[]; macs: number };
    const layerBytes = new Uint8Array(readFileSync(join(layersDir, layer.file)));
    const t = await interleaved({ native: await open('native', layerBytes), wasm: await open('wasm', layerBytes) });
    const gflops = (ms: number) => (layer.macs > 0 ? round2((2 * layer.macs) / (ms * 1e6)) : undefined);
    layers.push({
      op: layer.op,
      input: layer.input.join('x'),
      output: layer.output.join('x'),
      mmacs: round2(layer.macs / 1e6),
      nativeMedianMs: t.native.medianMs,
      wasmMedianMs: t.wasm.medianMs,
      wasmOverNative: round2(t.wasm.medianMs / t.native.medianMs),
      ...(layer.macs > 0 ? { nativeGflops: gflops(t.native.medianMs), wasmGflops: gflops(t.wasm.medianMs) } : {}),
    });
    console.error(`  ${layer.op.padEnd(20)} ${layer.input.join('x').padEnd(14)} native ${t.native.medianMs} ms, wasm ${t.wasm.medianMs} ms`);
  }
  const sum = (key: 'nativeMedianMs' | 'wasmMedianMs') => round3(layers.reduce((a, l) => a + l[key], 0));
  const convs = layers.filter((l) => l.mmacs > 0);
  const convMs = (key: 'nativeMedianMs' | 'wasmMedianMs') => convs.reduce((a, l) => a + l[key], 0);
  results.push({
    model: model.name,
    loadAverageBefore: loadBefore,
    loadAverageAfter: load(),
    wholeModel: { native1Thread: whole.native, wasm1Thread: whole.wasm, wasmOverNativeMedian: round2(whole.wasm.medianMs / whole.native.medianMs) },
    wasmSessionOptions: options,
    layers,
    layerSums: { nativeMs: sum('nativeMedianMs'), wasmMs: sum('wasmMedianMs') },
    convolutionShare: {
      nativeOfTotal: round2(convMs('nativeMedianMs') / sum('nativeMedianMs')),
      wasmOfTotal: round2(convMs('wasmMedianMs') / sum('wasmMedianMs')),
    },
  });
}

const report = {
  benchmark: 'onnxruntime-web WASM (same .wasm as the dashboard, in Node V8) vs onnxruntime-node native CPU, 1 thread each, batch 1',
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    cpuFlags: cpuFlags(),
    node: process.version,
    v8: process.versions.v8,
    onnxruntime: '1.30.0 (node and web)',
  },
  rounds: `${ROUNDS} rounds x ${RUNS_PER_ROUND} runs per variant, interleaved, after ${WARMUP_RUNS} warm-up runs; medians over all runs`,
  results,
};
writeFileSync(join(resultsDir, 'wasm-vs-native.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));

function cpuFlags(): string[] {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
    return ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512vl'].filter((f) => line.split(/\s+/).includes(f));
  } catch {
    return [];
  }
}
