/**
 * Edge benchmark of the issue: on the SAME CAE weights (widths 32-64-128, grey) at 128 and 256 px,
 * onnxruntime-node (CPU provider) against TF.js model.predict on the 'wasm' and 'cpu' backends,
 * batch 1 and 16: images/s and p50/p95 latency, end to end (decode -> preprocess -> inference ->
 * anomaly map + image score + verdict) and inference alone.
 * Targets: onnxruntime-node >= 5x TF.js wasm end to end; preprocessing + scoring < 20% of end to end.
 *
 * End-to-end cases (run round-robin, BENCH_REPEATS rounds, so load drift on a shared machine hits
 * all cases alike; the JSON keeps each case's median run and the spread):
 * - ort-inspector/bB/tT/stream: the product path, createNodeInspector (onnxruntime on its worker
 *   thread, T intra-op threads, batchSize B) given the whole image list (at least 8 batches) in one
 *   inspect() call, so decoding (libuv), inference (worker) and preprocessing/scoring (main) overlap.
 * - ort-inspector/bB/tT/per-call: the same inspector called once per batch of B images (no overlap
 *   across calls; the latency a line PC sees when it inspects one trigger at a time).
 * - ort-inspector-js-map/bB/t2/stream: the same streamed inspector on the same weights converted
 *   without the scoring head (--no-scoring-head), so the 1 - SSIM map is computed in JavaScript:
 *   what the head buys. (In the other ort-inspector cases the map is a graph output, so its
 *   cost is inside the inference time and scoring is the image score and verdict only.)
 * - ort-session/bB, tfjs-wasm/bB, tfjs-cpu/b1: one shared sequential pipeline per call of B images,
 *   only the inference call differs (apples to apples).
 * - tfjs-wasm/bB/stream: the sequential TF.js pipeline with the next batch decoded ahead (sharp on
 *   libuv overlaps with predict), the fairest TF.js counterpart of the streamed inspector.
 * preprocessPlusScoringFraction = (preprocessImage time + map/score/verdict time) / wall time of the
 * case (decoding is sharp's and counted apart: decodePlusPreprocessPlusScoringFraction, sequential
 * pipelines only, since the inspector's decode time includes waiting in its queue).
 *
 * The model is trained by @residuum/train (`train`, seeded, a few epochs on the 12 good sample
 * images: a real run folder and card; speed does not depend on how good the weights are) and
 * exported (readRunFolder + convertTrainedModel, as residuum export), with and without the scoring head. Before any timing the ONNX and
 * TF.js reconstructions of one image, and the graph's and JavaScript's maps, are compared
 * (max |diff| <= 1e-4).
 *
 * Run: npm run bench -w apps/cli   (final numbers: nice -n -5, the machine is shared)
 * Environment: BENCH_ROUNDS (batches of 16 images per end-to-end case, default 4),
 * BENCH_REPEATS (runs per end-to-end case, default 3), BENCH_CASE_SECONDS (time cap per case run,
 * default 8; the cpu backend gets 2x), BENCH_SIZES (default "128,256").
 * Writes bench-results/edge-vs-tfjs.json and prints a table.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { decodeImage } from '@residuum/imaging';
import { convertTrainedModel } from '@residuum/onnx-converter';
import { createNodeInspector, type InspectionResult, type NodeInspector } from '@residuum/runtime-node';
import {
  anomalyMap,
  imageScore,
  isAnomalous,
  normalizeScore,
  preprocessImage,
  parseModelCard,
  type ModelCard,
  type RawImage,
} from '@residuum/scoring';
import { initBackend, loadModelFromDir, train } from '@residuum/train';
import { readRunFolder, runPath } from '@residuum/train/run-folder';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = join(appDir, '../..');
const resultsDir = join(appDir, 'bench-results');

function positiveNumberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
}

const maxRounds = Math.floor(positiveNumberFromEnv('BENCH_ROUNDS', 4));
const caseSeconds = positiveNumberFromEnv('BENCH_CASE_SECONDS', 8);
const repeats = Math.floor(positiveNumberFromEnv('BENCH_REPEATS', 3));
const ORT_THREADS = [1, 2] as const;
const sizes = (process.env.BENCH_SIZES ?? '128,256').split(',').map((s) => {
  const size = Number(s.trim());
  if (size !== 128 && size !== 256) throw new Error(`BENCH_SIZES entries must be 128 or 256, got ${JSON.stringify(s)}`);
  return size;
});
const BATCHES = [1, 16] as const;
const EQUIVALENCE_TOLERANCE = 1e-4;
const TRAINING_EPOCHS = 3;

function imagesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? imagesUnder(path) : /\.jpe?g$/i.test(name) ? [path] : [];
  });
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/**
 * Trains the CAE with @residuum/train (seeded, on the 12 good sample images, a few epochs: a real
 * run folder with a fitted threshold; speed does not depend on how good the weights are) and
 * converts it to ONNX twice: as `residuum export` writes it, and without the scoring head.
 */
async function prepareModel(size: number, workDir: string): Promise<{ runDir: string; onnxPath: string; onnxWithoutHeadPath: string; card: ModelCard }> {
  const runDir = join(workDir, `cae-${size}`);
  const started = performance.now();
  await train({
    model: 'cae',
    data: join(repoRoot, 'models/samples/casting'),
    layout: 'folder',
    normalDir: ['ok_front'],
    size,
    channels: 1,
    epochs: TRAINING_EPOCHS,
    batch: 4,
    seed: 7,
    backend: 'wasm',
    validationSplit: 0.25,
    modelOptions: { widths: [32, 64, 128] },
    out: runDir,
    quiet: true,
    handleSigint: false,
  });
  console.error(`[edge-vs-tfjs] ${size}px: trained the CAE (${TRAINING_EPOCHS} epochs on the 12 good samples) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const card = parseModelCard(readFileSync(runPath(runDir, 'card'), 'utf8'), runPath(runDir, 'card'));
  const onnxPath = join(workDir, `cae-${size}.onnx`);
  const run = await readRunFolder(runDir);
  writeFileSync(onnxPath, convertTrainedModel(run).onnx);
  const onnxWithoutHeadPath = join(workDir, `cae-${size}-no-head.onnx`);
  writeFileSync(onnxWithoutHeadPath, convertTrainedModel(run, { scoringHead: false }).onnx);
  return { runDir, onnxPath, onnxWithoutHeadPath, card };
}

interface StageTimes {
  decodeMs: number;
  preprocessMs: number;
  inferenceMs: number;
  scoringMs: number;
}

interface CaseRun {
  images: number;
  calls: number;
  wallMs: number;
  imagesPerSecond: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  stages: StageTimes;
  capped: boolean;
}

interface CaseResult {
  mode: 'stream' | 'per-call';
  /** What latencyP50Ms/P95Ms measure. */
  latency: string;
  images: number;
  calls: number;
  /** Median over the repeats; the other fields are from the run with the median images/s. */
  imagesPerSecond: number;
  imagesPerSecondRuns: number[];
  /** (max - min) / median of images/s over the repeats. */
  imagesPerSecondSpread: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  /** Mean ms per image of each stage (stage time, not wall: stages overlap in the streamed inspector). */
  stageMsPerImage: StageTimes;
  wallMsPerImage: number;
  preprocessPlusScoringFraction: number;
  decodePlusPreprocessPlusScoringFraction?: number;
  cappedBySeconds?: number;
  targets?: { speedupOverTfjsWasm: number; atLeast5xTfjsWasm: boolean; speedupOverTfjsWasmStream: number; preprocessPlusScoringUnder20Percent: boolean };
}

const median = (values: readonly number[]) => percentile(values, 0.5);

/** Summarizes the runs of one case: the median run (by images/s) and the spread. */
function summarizeRuns(mode: CaseResult['mode'], latency: string, decodeIsOwnStage: boolean, runs: readonly CaseRun[]): CaseResult {
  const rates = runs.map((run) => run.imagesPerSecond);
  const mid = median(rates);
  const run = runs.find((candidate) => candidate.imagesPerSecond === mid)!;
  const per = (ms: number) => round3(ms / run.images);
  const result: CaseResult = {
    mode,
    latency,
    images: run.images,
    calls: run.calls,
    imagesPerSecond: round3(mid),
    imagesPerSecondRuns: rates.map(round3),
    imagesPerSecondSpread: round3((Math.max(...rates) - Math.min(...rates)) / mid),
    latencyP50Ms: round3(run.latencyP50Ms),
    latencyP95Ms: round3(run.latencyP95Ms),
    stageMsPerImage: { decodeMs: per(run.stages.decodeMs), preprocessMs: per(run.stages.preprocessMs), inferenceMs: per(run.stages.inferenceMs), scoringMs: per(run.stages.scoringMs) },
    wallMsPerImage: per(run.wallMs),
    preprocessPlusScoringFraction: round3((run.stages.preprocessMs + run.stages.scoringMs) / run.wallMs),
  };
  if (decodeIsOwnStage) result.decodePlusPreprocessPlusScoringFraction = round3((run.stages.decodeMs + run.stages.preprocessMs + run.stages.scoringMs) / run.wallMs);
  if (run.capped) result.cappedBySeconds = caseSeconds;
  return result;
}

const addStages = (a: StageTimes, b: StageTimes): StageTimes => ({
  decodeMs: a.decodeMs + b.decodeMs,
  preprocessMs: a.preprocessMs + b.preprocessMs,
  inferenceMs: a.inferenceMs + b.inferenceMs,
  scoringMs: a.scoringMs + b.scoringMs,
});
const noStages = (): StageTimes => ({ decodeMs: 0, preprocessMs: 0, inferenceMs: 0, scoringMs: 0 });

/** Runs `call` on consecutive batches until maxImages are done or the time cap is hit (at least one call). */
async function timeCalls(
  images: readonly string[],
  batch: number,
  maxImages: number,
  capSeconds: number,
  call: (chunk: string[]) => Promise<StageTimes>,
): Promise<CaseRun> {
  const callMs: number[] = [];
  let stages = noStages();
  let done = 0;
  let capped = false;
  const started = performance.now();
  while (done < maxImages) {
    if (callMs.length > 0 && performance.now() - started > capSeconds * 1000) {
      capped = true;
      break;
    }
    const chunk = Array.from({ length: batch }, (_, i) => images[(done + i) % images.length]);
    const t0 = performance.now();
    stages = addStages(stages, await call(chunk));
    callMs.push(performance.now() - t0);
    done += batch;
  }
  const wallMs = performance.now() - started;
  return { images: done, calls: callMs.length, wallMs, imagesPerSecond: (done * 1000) / wallMs, latencyP50Ms: percentile(callMs, 0.5), latencyP95Ms: percentile(callMs, 0.95), stages, capped };
}

type Infer = (input: Float32Array, batch: number) => Promise<Float32Array>;

// Verdicts are counted so the scoring work cannot be skipped as unused.
let anomalousVerdicts = 0;

/** Decodes one batch (sharp, in parallel on libuv's threads); its wall time is the decode stage. */
async function decodeBatch(chunk: readonly string[]): Promise<{ raws: RawImage[]; decodeMs: number }> {
  const t = performance.now();
  const raws = await Promise.all(chunk.map((path) => decodeImage(path)));
  return { raws, decodeMs: performance.now() - t };
}

/** preprocess -> infer -> map + score + verdict for already decoded images, each stage timed. */
async function inferAndScore(card: ModelCard, infer: Infer, raws: readonly RawImage[]): Promise<Omit<StageTimes, 'decodeMs'>> {
  const { width, height, channels } = card.preprocessing;
  const plane = channels * height * width;
  let t = performance.now();
  const input = new Float32Array(raws.length * plane);
  raws.forEach((raw, i) => input.set(preprocessImage(raw, card.preprocessing), i * plane));
  const preprocessMs = performance.now() - t;
  t = performance.now();
  const reconstruction = await infer(input, raws.length);
  const inferenceMs = performance.now() - t;
  t = performance.now();
  let anomalous = 0;
  for (let i = 0; i < raws.length; i++) {
    const map = anomalyMap(input.subarray(i * plane, (i + 1) * plane), reconstruction.subarray(i * plane, (i + 1) * plane), channels, height, width, card.score.map);
    const score = imageScore(map, card.score.image);
    normalizeScore(score, card.threshold.value, card.calibration);
    if (isAnomalous(score, card.threshold.value)) anomalous++;
  }
  const scoringMs = performance.now() - t;
  anomalousVerdicts += anomalous;
  return { preprocessMs, inferenceMs, scoringMs };
}

/** The shared sequential pipeline: decode -> preprocess -> infer -> map + score + verdict, each stage timed. */
function sequentialPipeline(card: ModelCard, infer: Infer): (chunk: string[]) => Promise<StageTimes> {
  return async (chunk) => {
    const { raws, decodeMs } = await decodeBatch(chunk);
    return { decodeMs, ...(await inferAndScore(card, infer, raws)) };
  };
}

/**
 * The sequential pipeline over a stream of images with the next batch decoded ahead: sharp works
 * on libuv's threads while this thread preprocesses, infers and scores. Latency: per batch, from
 * the start of its decoding to its verdicts.
 */
async function streamedPipeline(card: ModelCard, infer: Infer, images: readonly string[], batch: number, total: number, capSeconds: number): Promise<CaseRun> {
  const chunks = Array.from({ length: Math.ceil(total / batch) }, (_, k) => Array.from({ length: batch }, (_, i) => images[(k * batch + i) % images.length]));
  let stages = noStages();
  const latencies: number[] = [];
  let done = 0;
  let capped = false;
  const started = performance.now();
  const decodeAhead = (k: number) => ({ startedAt: performance.now(), decoding: decodeBatch(chunks[k]) });
  let next = decodeAhead(0);
  for (let k = 0; k < chunks.length; k++) {
    if (k > 0 && performance.now() - started > capSeconds * 1000) {
      capped = true;
      break;
    }
    const current = next;
    const { raws, decodeMs } = await current.decoding;
    if (k + 1 < chunks.length) next = decodeAhead(k + 1);
    stages = addStages(stages, { decodeMs, ...(await inferAndScore(card, infer, raws)) });
    latencies.push(performance.now() - current.startedAt);
    done += raws.length;
  }
  const wallMs = performance.now() - started;
  return { images: done, calls: latencies.length, wallMs, imagesPerSecond: (done * 1000) / wallMs, latencyP50Ms: percentile(latencies, 0.5), latencyP95Ms: percentile(latencies, 0.95), stages, capped };
}

/** Stage times of inspector results; the preprocessing stage is preprocessImage alone (decode apart). */
function inspectorStages(results: readonly InspectionResult[]): StageTimes {
  const stages = noStages();
  for (const result of results) {
    if (!result.ok) throw new Error(`inspector failed on ${result.source}: ${result.error}`);
    const decodeMs = result.timings.decodeMs ?? 0;
    stages.decodeMs += decodeMs;
    stages.preprocessMs += result.timings.preprocessMs - decodeMs;
    stages.inferenceMs += result.timings.inferenceMs;
    stages.scoringMs += result.timings.scoringMs;
  }
  return stages;
}

/** One inspect() call over `total` images: the pipelined product path. */
async function inspectorStream(inspector: NodeInspector, images: readonly string[], total: number): Promise<CaseRun> {
  const list = Array.from({ length: total }, (_, i) => images[i % images.length]);
  const started = performance.now();
  const results = await inspector.inspect(list);
  const wallMs = performance.now() - started;
  const perImage = results.map((result) => (result.ok ? result.timings.totalMs : Number.NaN));
  return {
    images: total,
    calls: 1,
    wallMs,
    imagesPerSecond: (total * 1000) / wallMs,
    latencyP50Ms: percentile(perImage, 0.5),
    latencyP95Ms: percentile(perImage, 0.95),
    stages: inspectorStages(results),
    capped: false,
  };
}

/** TF.js predict on NHWC input; with one channel NCHW and NHWC hold the same values in the same order. */
function tfjsInfer(model: tf.LayersModel, size: number): Infer {
  return async (input, batch) => {
    const output = tf.tidy(() => model.predict(tf.tensor4d(input, [batch, size, size, 1])) as tf.Tensor);
    const data = (await output.data()) as Float32Array;
    output.dispose();
    return data;
  };
}

async function createOrtSession(onnxPath: string, threads?: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(onnxPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
  });
}

function ortInfer(session: ort.InferenceSession, card: ModelCard, size: number): Infer {
  const outputName = card.outputs.find((o) => o.meaning === 'reconstruction')?.name ?? 'reconstruction';
  return async (input, batch) => {
    const results = await session.run({ input: new ort.Tensor('float32', input, [batch, 1, size, size]) });
    return results[outputName].data as Float32Array;
  };
}

interface InferenceOnlyResult {
  images: number;
  calls: number;
  imagesPerSecond: number;
  callLatencyP50Ms: number;
  callLatencyP95Ms: number;
  cappedBySeconds?: number;
}

/** Inference alone on one preprocessed batch (already warm), time-capped. */
async function inferenceOnly(infer: Infer, input: Float32Array, batch: number, maxRuns: number, capSeconds: number): Promise<InferenceOnlyResult> {
  await infer(input, batch);
  const runs: number[] = [];
  const started = performance.now();
  while (runs.length < maxRuns && (runs.length === 0 || performance.now() - started < capSeconds * 1000)) {
    const t0 = performance.now();
    await infer(input, batch);
    runs.push(performance.now() - t0);
  }
  return {
    images: runs.length * batch,
    calls: runs.length,
    imagesPerSecond: round3((runs.length * batch * 1000) / sum(runs)),
    callLatencyP50Ms: round3(percentile(runs, 0.5)),
    callLatencyP95Ms: round3(percentile(runs, 0.95)),
    ...(runs.length < maxRuns ? { cappedBySeconds: capSeconds } : {}),
  };
}

async function preprocessedBatch(images: readonly string[], card: ModelCard, batch: number): Promise<Float32Array> {
  const plane = card.preprocessing.channels * card.preprocessing.height * card.preprocessing.width;
  const input = new Float32Array(batch * plane);
  for (let i = 0; i < batch; i++) input.set(preprocessImage(await decodeImage(images[i % images.length]), card.preprocessing), i * plane);
  return input;
}

const PER_CALL_LATENCY = 'per call of B images, wall (decode to verdicts)';
const STREAM_INSPECTOR_LATENCY = 'per image, the sum of its stage times (decode wait included, waits between stages excluded)';
const STREAM_TFJS_LATENCY = 'per batch, from the start of its decoding to its verdicts (wall)';

async function benchSize(size: number, images: readonly string[], workDir: string): Promise<Record<string, unknown>> {
  // The model is built and checked on wasm, the backend TF.js is timed on first.
  await initBackend('wasm');
  const { runDir, onnxPath, onnxWithoutHeadPath, card } = await prepareModel(size, workDir);
  const maxImages = maxRounds * 16;
  const out: Record<string, unknown> = { onnxBytes: statSync(onnxPath).size };

  // Equivalence check on one real image before any timing.
  let model = await loadModelFromDir(runDir);
  const session = await createOrtSession(onnxPath);
  const one = await preprocessedBatch(images, card, 1);
  const fromTfjs = await tfjsInfer(model, size)(one, 1);
  const fromOrt = await ortInfer(session, card, size)(one, 1);
  let maxAbsDiff = 0;
  for (let i = 0; i < fromTfjs.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(fromTfjs[i] - fromOrt[i]));
  // The graph's map (scoring head) against the JavaScript map of the same reconstruction.
  const graphMap = (await session.run({ input: new ort.Tensor('float32', one, [1, 1, size, size]) })).anomaly_map?.data as Float32Array | undefined;
  if (!graphMap) throw new Error(`cae-${size}: the converted model has no anomaly_map output (scoring head)`);
  const jsMap = anomalyMap(one, fromOrt, 1, size, size, card.score.map);
  let mapMaxAbsDiff = 0;
  for (let i = 0; i < jsMap.length; i++) mapMaxAbsDiff = Math.max(mapMaxAbsDiff, Math.abs(jsMap[i] - graphMap[i]));
  out.equivalence = { maxAbsDiff, mapMaxAbsDiff, tolerance: EQUIVALENCE_TOLERANCE, pass: maxAbsDiff <= EQUIVALENCE_TOLERANCE && mapMaxAbsDiff <= EQUIVALENCE_TOLERANCE };
  if (!(maxAbsDiff <= EQUIVALENCE_TOLERANCE) || !(mapMaxAbsDiff <= EQUIVALENCE_TOLERANCE)) {
    throw new Error(`cae-${size}: ONNX and TF.js reconstructions differ by ${maxAbsDiff}, graph and JS maps by ${mapMaxAbsDiff} (> ${EQUIVALENCE_TOLERANCE}); not timing a wrong model`);
  }
  console.error(`[edge-vs-tfjs] ${size}px: equivalence ok (reconstruction max |diff| ${maxAbsDiff.toExponential(2)}, map ${mapMaxAbsDiff.toExponential(2)})`);

  const endToEnd: Record<string, CaseResult> = {};
  const inference: Record<string, InferenceOnlyResult> = {};

  // Every end-to-end case is set up first and then run round-robin, `repeats` rounds: the load of
  // a shared machine drifts, and interleaving spreads the drift over all cases alike.
  interface Case {
    name: string;
    mode: CaseResult['mode'];
    latency: string;
    decodeIsOwnStage: boolean;
    run: () => Promise<CaseRun>;
  }
  const cases: Case[] = [];
  const inspectors: NodeInspector[] = [];
  const warm = async (inspector: NodeInspector, batch: number) => {
    await inspector.inspect(images.slice(0, batch) as string[]);
    inspectors.push(inspector);
    return inspector;
  };
  for (const batch of BATCHES) {
    // Streams long enough for the three-stage pipeline to fill: at least 8 batches.
    const streamImages = Math.max(maxImages, 8 * batch);
    // The product path: the inspector, streamed and per call, with 1 and 2 onnxruntime threads.
    for (const threads of ORT_THREADS) {
      const inspector = await warm(await createNodeInspector(onnxPath, { provider: 'cpu', batchSize: batch, threads, warmup: true }), batch);
      cases.push({ name: `ort-inspector/b${batch}/t${threads}/stream`, mode: 'stream', latency: STREAM_INSPECTOR_LATENCY, decodeIsOwnStage: false, run: () => inspectorStream(inspector, images, streamImages) });
      cases.push({
        name: `ort-inspector/b${batch}/t${threads}/per-call`,
        mode: 'per-call',
        latency: PER_CALL_LATENCY,
        decodeIsOwnStage: false,
        run: () => timeCalls(images, batch, maxImages, caseSeconds, async (chunk) => inspectorStages(await inspector.inspect(chunk))),
      });
    }
    // The same inspector on the model without the scoring head: the map computed in JavaScript.
    const jsMap = await warm(await createNodeInspector(onnxWithoutHeadPath, { provider: 'cpu', batchSize: batch, threads: 2, warmup: true }), batch);
    cases.push({ name: `ort-inspector-js-map/b${batch}/t2/stream`, mode: 'stream', latency: STREAM_INSPECTOR_LATENCY, decodeIsOwnStage: false, run: () => inspectorStream(jsMap, images, streamImages) });
    // onnxruntime-node in the same sequential pipeline code as TF.js (apples to apples).
    const ortPipeline = sequentialPipeline(card, ortInfer(session, card, size));
    await ortPipeline(images.slice(0, batch) as string[]);
    cases.push({ name: `ort-session/b${batch}`, mode: 'per-call', latency: PER_CALL_LATENCY, decodeIsOwnStage: true, run: () => timeCalls(images, batch, maxImages, caseSeconds, ortPipeline) });
    // TF.js wasm (model already loaded on wasm), per call and with the next batch decoded ahead.
    const wasmInfer = tfjsInfer(model, size);
    const wasmPipeline = sequentialPipeline(card, wasmInfer);
    await wasmPipeline(images.slice(0, batch) as string[]);
    cases.push({ name: `tfjs-wasm/b${batch}`, mode: 'per-call', latency: PER_CALL_LATENCY, decodeIsOwnStage: true, run: () => timeCalls(images, batch, maxImages, caseSeconds, wasmPipeline) });
    cases.push({ name: `tfjs-wasm/b${batch}/stream`, mode: 'stream', latency: STREAM_TFJS_LATENCY, decodeIsOwnStage: true, run: () => streamedPipeline(card, wasmInfer, images, batch, streamImages, caseSeconds) });
  }
  const runs = new Map<string, CaseRun[]>(cases.map((c) => [c.name, []]));
  for (let round = 0; round < repeats; round++) {
    for (const c of cases) runs.get(c.name)!.push(await c.run());
    console.error(`[edge-vs-tfjs] ${size}px: round ${round + 1}/${repeats} done (loadavg ${loadavg()[0].toFixed(2)})`);
  }
  for (const c of cases) endToEnd[c.name] = summarizeRuns(c.mode, c.latency, c.decodeIsOwnStage, runs.get(c.name)!);
  for (const inspector of inspectors) await inspector.dispose();

  // Inference alone.
  for (const batch of BATCHES) {
    const input = await preprocessedBatch(images, card, batch);
    inference[`ort-session/b${batch}`] = await inferenceOnly(ortInfer(session, card, size), input, batch, maxRounds * 4, caseSeconds / 2);
    for (const threads of ORT_THREADS) {
      const pinned = await createOrtSession(onnxPath, threads);
      inference[`ort-session-${threads}thread/b${batch}`] = await inferenceOnly(ortInfer(pinned, card, size), input, batch, maxRounds * 4, caseSeconds / 2);
      await pinned.release();
    }
    inference[`tfjs-wasm/b${batch}`] = await inferenceOnly(tfjsInfer(model, size), input, batch, maxRounds * 4, caseSeconds / 2);
  }
  model.dispose();

  // TF.js cpu (pure JS): batch 1 only, time-capped, one run (it is ~100x slower; the spread is not the question).
  await initBackend('cpu');
  model = await loadModelFromDir(runDir);
  {
    const infer = tfjsInfer(model, size);
    const pipeline = sequentialPipeline(card, infer);
    await pipeline(images.slice(0, 1) as string[]);
    endToEnd['tfjs-cpu/b1'] = summarizeRuns('per-call', PER_CALL_LATENCY, true, [await timeCalls(images, 1, maxImages, caseSeconds * 2, pipeline)]);
    inference['tfjs-cpu/b1'] = await inferenceOnly(infer, one, 1, maxRounds * 4, caseSeconds);
    console.error(`[edge-vs-tfjs] ${size}px b1: tfjs-cpu done`);
  }
  model.dispose();
  await session.release();

  // Targets, per onnxruntime case: against TF.js wasm at the same batch size.
  const summary: Record<string, unknown> = {};
  for (const batch of BATCHES) {
    const wasm = endToEnd[`tfjs-wasm/b${batch}`].imagesPerSecond;
    const wasmStream = endToEnd[`tfjs-wasm/b${batch}/stream`].imagesPerSecond;
    for (const [name, result] of Object.entries(endToEnd)) {
      if (!name.startsWith('ort-') || !name.includes(`/b${batch}`)) continue;
      const speedup = result.imagesPerSecond / wasm;
      result.targets = {
        speedupOverTfjsWasm: round3(speedup),
        atLeast5xTfjsWasm: speedup >= 5,
        speedupOverTfjsWasmStream: round3(result.imagesPerSecond / wasmStream),
        preprocessPlusScoringUnder20Percent: result.preprocessPlusScoringFraction < 0.2,
      };
    }
    const streams = ORT_THREADS.map((t) => [`ort-inspector/b${batch}/t${t}/stream`, endToEnd[`ort-inspector/b${batch}/t${t}/stream`]] as const);
    const [bestName, best] = streams.reduce((a, b) => (b[1].imagesPerSecond > a[1].imagesPerSecond ? b : a));
    summary[`b${batch}`] = {
      productPath: bestName,
      imagesPerSecond: best.imagesPerSecond,
      tfjsWasmImagesPerSecond: wasm,
      speedupOverTfjsWasm: best.targets!.speedupOverTfjsWasm,
      atLeast5xTfjsWasm: best.targets!.atLeast5xTfjsWasm,
      speedupOverTfjsWasmStream: best.targets!.speedupOverTfjsWasmStream,
      preprocessPlusScoringFraction: best.preprocessPlusScoringFraction,
      preprocessPlusScoringUnder20Percent: best.targets!.preprocessPlusScoringUnder20Percent,
      bestThreads: Number(bestName.split('/t')[1].split('/')[0]),
    };
  }
  out.targets = summary;
  out.endToEnd = endToEnd;
  out.inferenceOnly = inference;
  return out;
}

const images = imagesUnder(join(repoRoot, 'models/samples/casting')).sort();
if (images.length === 0) throw new Error(`no sample JPEGs under ${join(repoRoot, 'models/samples/casting')}`);
const loadBefore = loadavg();
const workDir = mkdtempSync(join(tmpdir(), 'residuum-edge-bench-'));
const report: Record<string, unknown> = {
  benchmark: 'edge: onnxruntime-node (CPU EP) vs TF.js predict (wasm, cpu backends), same CAE weights',
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    node: process.version,
    onnxruntimeThreads: 'per case: t1 / t2 = intra-op threads of the inspector; ort-session and ort-inspector-main: onnxruntime default',
    tfjsWasm: 'XNNPACK, SIMD, one thread (as @residuum/train initialises it)',
  },
  model: `CAE widths 32-64-128, 1 channel, trained by @residuum/train (seed 7, ${TRAINING_EPOCHS} epochs on the 12 good sample images, wasm backend: a real run folder and card; speed does not depend on how good the weights are) and exported (readRunFolder + convertTrainedModel, as residuum export), with and without the scoring head`,
  images: `${images.length} casting sample JPEGs (300x300) from models/samples/casting, cycled`,
  settings: { maxRounds, maxImagesPerCase: maxRounds * 16, repeats, caseSeconds, cpuBackendCaseSeconds: caseSeconds * 2, sizes },
  notes: [
    'end to end = decode -> preprocessImage -> inference -> anomaly map + image score + verdict; every case says what its latency measures',
    'ort-inspector cases run the model as residuum export writes it: the 1 - SSIM map is a graph output (the converter\'s scoring head), so its cost is in inferenceMs and scoringMs is the image score and verdict; ort-inspector-js-map is the same inspector on the model exported with --no-scoring-head (map in JavaScript, in scoringMs); ort-session and tfjs cases compute the map in JavaScript (the TF.js path has no other way)',
    'ort-inspector/bB/tT/stream is the product path (createNodeInspector, onnxruntime on its worker thread, one inspect() call over the images); targets.bB judges the better of t1/t2',
    'speedupOverTfjsWasm compares with tfjs-wasm/bB (the sequential TF.js pipeline per call); speedupOverTfjsWasmStream with tfjs-wasm/bB/stream (TF.js with the next batch decoded ahead)',
    'preprocessPlusScoringFraction = (preprocessImage + scoring time) / wall time; decoding (sharp) is reported apart',
    'imagesPerSecond is the median of BENCH_REPEATS runs (imagesPerSecondRuns); imagesPerSecondSpread = (max - min) / median',
    'tfjs-cpu: batch 1 only, one time-capped run (pure JS, slow)',
    'ort-session-1thread / -2thread (inference alone) pin the intra-op threads; the wasm backend runs one thread',
  ],
  loadavgBefore: loadBefore.map(round3),
  sizes: {} as Record<string, unknown>,
};
try {
  for (const size of sizes) {
    (report.sizes as Record<string, unknown>)[`cae${size}`] = await benchSize(size, images, workDir);
  }
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
report.loadavgAfter = loadavg().map(round3);
report.anomalousVerdictsInSequentialPipelines = anomalousVerdicts;
mkdirSync(resultsDir, { recursive: true });
const resultsPath = join(resultsDir, 'edge-vs-tfjs.json');
writeFileSync(resultsPath, `${JSON.stringify(report, null, 2)}\n`);

// Short table.
const rows: string[] = [];
const pad = (value: string | number, width: number) => String(value).padStart(width);
rows.push(`${'size'.padEnd(8)}${'case'.padEnd(34)}${pad('img/s', 9)}${pad('spread', 8)}${pad('p50 ms', 9)}${pad('p95 ms', 9)}${pad('pre+score', 10)}${pad('x wasm', 8)}${pad('infer-only img/s', 18)}`);
for (const [sizeKey, value] of Object.entries(report.sizes as Record<string, { endToEnd: Record<string, CaseResult>; inferenceOnly: Record<string, InferenceOnlyResult>; targets: Record<string, unknown> }>)) {
  for (const name of [...new Set([...Object.keys(value.endToEnd), ...Object.keys(value.inferenceOnly)])]) {
    const e2e: Partial<CaseResult> = value.endToEnd[name] ?? {};
    const inf = value.inferenceOnly[name];
    rows.push(
      `${sizeKey.padEnd(8)}${name.padEnd(34)}${pad(e2e.imagesPerSecond ?? '-', 9)}${pad(e2e.imagesPerSecondSpread ?? '-', 8)}${pad(e2e.latencyP50Ms ?? '-', 9)}${pad(e2e.latencyP95Ms ?? '-', 9)}${pad(e2e.preprocessPlusScoringFraction ?? '-', 10)}${pad(e2e.targets?.speedupOverTfjsWasm ?? '-', 8)}${pad(inf ? inf.imagesPerSecond : '-', 18)}`,
    );
  }
  rows.push(`${sizeKey}: targets ${JSON.stringify(value.targets)}`);
}
console.log(rows.join('\n'));
console.log(`loadavg before ${JSON.stringify(report.loadavgBefore)} after ${JSON.stringify(report.loadavgAfter)}; wrote ${resultsPath}`);
