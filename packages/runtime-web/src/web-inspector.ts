/**
 * The browser twin of runtime-node: one Residuum .onnx on onnxruntime-web (WebGPU or WASM),
 * implementing @residuum/inspection's Inspector for browser image sources. Everything between
 * "model outputs" and "verdict" is @residuum/inspection's shared code, and preprocessing is
 * @residuum/scoring's, so a browser score equals the Node score for the same file.
 */
import {
  createRuntimeInspector,
  describeNamedOnnxModel,
  type ImageDecoder,
  type ModelFeeds,
  type ModelOutputs,
  type RuntimeInspector,
} from '@residuum/inspection';
import { preprocessImage } from '@residuum/scoring';
import { decodeToRawImage, type WebImageSource } from './decode.js';
import { readModelBytes, type ModelSource } from './model-source.js';
import {
  createSessionOnProviders,
  type OrtModule,
  type WebGpuAdapterSummary,
  type WebProvider,
  type WebProviderRequest,
} from './providers.js';

export interface WebInspectorOptions {
  /** 'auto' (default): WebGPU when navigator.gpu gives an adapter, else WASM. */
  provider?: WebProviderRequest;
  /**
   * URL prefix (ending in '/') where the app serves onnxruntime-web's
   * ort-wasm-simd-threaded.asyncify.{mjs,wasm}. Applies to the first session of the page
   * (onnxruntime-web initialises its WASM module once).
   */
  wasmPaths?: string;
  /** WASM threads; default: one per logical core (at most 4) when the page is cross-origin isolated, else 1. */
  numThreads?: number;
  /** Overrides the card's MC-Dropout mask seed (card.mcDropout.seed, the one calibration used); for tests. */
  seed?: number;
  /** Rows (images x MC-Dropout passes) per session run (default: the inspection core's, 8). */
  batchSize?: number;
}

export interface WebInspector extends RuntimeInspector<WebImageSource> {
  readonly provider: WebProvider;
  /** The WebGPU adapter the session runs on (only when provider is 'webgpu'). */
  readonly adapter?: WebGpuAdapterSummary;
  /** Threads the WASM provider was configured with (onnxruntime-web's global setting). */
  readonly wasmThreads: number;
  /**
   * Inspects a synthetic image so the first real one does not pay for start-up: on WebGPU once
   * (shader compilation per shape), on WASM several times (V8 first compiles the WASM module with
   * its baseline compiler, Liftoff, and swaps in optimized TurboFan code only for functions that
   * ran: the first runs of the 128x128 benchmark CAE took 68, 39, then 23 ms). Returns the total ms.
   */
  warmup(): Promise<number>;
}

/** Loads, validates and opens a Residuum model; see WebInspectorOptions for the choices. */
export async function createWebInspector(model: ModelSource, options: WebInspectorOptions = {}): Promise<WebInspector> {
  const request = options.provider ?? 'auto';
  if (request !== 'auto' && request !== 'webgpu' && request !== 'wasm') {
    throw new RangeError(`options.provider must be 'auto', 'webgpu' or 'wasm', got '${String(request)}'`);
  }
  if (options.numThreads !== undefined && !(Number.isInteger(options.numThreads) && options.numThreads >= 1)) {
    throw new RangeError(`options.numThreads must be a positive integer, got ${String(options.numThreads)}`);
  }
  const { bytes, label } = await readModelBytes(model);
  const { card } = describeNamedOnnxModel(bytes, label);
  const selected = await createSessionOnProviders(
    bytes,
    request,
    (provider) =>
      provider === 'webgpu'
        ? // Outputs stay on the GPU until read: MC-Dropout passes then download only what scoring needs.
          { preferredOutputLocation: 'gpu-buffer', graphOptimizationLevel: 'all' }
        : { graphOptimizationLevel: 'all' },
    { numThreads: defaultThreads(options.numThreads), ...(options.wasmPaths !== undefined ? { wasmPaths: options.wasmPaths } : {}) },
  );
  const { ort, session } = selected;
  const inspector = createRuntimeInspector({
    card,
    session: { provider: selected.provider, attempts: selected.attempts, run: (feeds) => runSession(ort, session, feeds), release: () => session.release() },
    decoder: browserDecoder,
    modelName: label,
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
  const provider = selected.provider;
  return Object.assign(inspector, {
    provider,
    adapter: selected.adapter,
    // onnxruntime-web's global, fixed by the first session of the page.
    wasmThreads: ort.env.wasm.numThreads ?? 1,
    warmup: () => warmup(inspector, provider),
  });
}

/** File, Blob, ImageBitmap, ImageData or canvas, drawn to RGBA pixels by the browser. */
const browserDecoder: ImageDecoder<WebImageSource> = {
  notAnArray: 'images must be an array of File, Blob, ImageBitmap, ImageData or canvas',
  label: sourceLabel,
  decode: (image, source) => decodeToRawImage(image, source),
};

/**
 * WASM threads need a cross-origin isolated page (SharedArrayBuffer). Default: one per logical
 * core, at most 4. Measured in chromium on the idle 2-core machine (bench/browser-vs-node.ts):
 * 128x128 CAE 12.8 ms inference with 2 threads against 23.4 ms with 1; default model 3.8 against
 * 6.2 ms. (Under a load average of 4-9 from other jobs the order flipped, 44 against 24 ms: a
 * dashboard PC that is busy with other work can pass ?threads=1 / numThreads: 1.)
 */
function defaultThreads(requested: number | undefined): number {
  if (requested !== undefined) return requested;
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  return isolated ? Math.max(1, Math.min(4, cores)) : 1;
}

/**
 * Warm-up runs on WASM: enough for V8's tier-up from Liftoff to TurboFan code (in chromium the
 * benchmark CAE was at its steady latency from the third run on; one more for margin).
 */
const WASM_WARMUP_RUNS = 4;

type OrtSession = Awaited<ReturnType<OrtModule['InferenceSession']['create']>>;

/**
 * One session run. MC-Dropout passes are rows of the same batch (the inspection core stacks
 * images x passes), so on WebGPU all passes of a batch run in one session.run: the batch is
 * uploaded once, every intermediate stays on the GPU, and only the outputs come back
 * (preferredOutputLocation 'gpu-buffer', downloaded here by getData(true), which also frees them).
 */
async function runSession(ort: OrtModule, session: OrtSession, feeds: ModelFeeds): Promise<ModelOutputs> {
  const tensors: Record<string, InstanceType<OrtModule['Tensor']>> = {};
  for (const [name, value] of Object.entries(feeds)) tensors[name] = new ort.Tensor('float32', value.data, [...value.dims]);
  const results = await session.run(tensors);
  const outputs: ModelOutputs = {};
  for (const [name, value] of Object.entries(results)) {
    const tensor = value as InstanceType<OrtModule['Tensor']>;
    const data = await tensor.getData(true);
    if (!(data instanceof Float32Array)) throw new TypeError(`output '${name}' is ${tensor.type}, expected float32`);
    outputs[name] = { data, dims: tensor.dims };
  }
  return outputs;
}

/**
 * One image of twice the model size (so the resampler runs), through the same path as a real one:
 * preprocessing, one session run per MC pass row (the shape of a one-image call, not a full batch:
 * on a software WebGPU adapter a full batch of a 128x128 model takes half a minute, and WebGPU
 * compiles its shaders per shape), scoring with maps. The JavaScript (resampler, anomaly maps,
 * SSIM) is optimized by V8 on the way: cold, the first image's scoring alone took 70 ms in chromium.
 */
async function warmup(inspector: RuntimeInspector<WebImageSource>, provider: WebProvider): Promise<number> {
  inspector.assertOpen();
  const prep = inspector.card.preprocessing;
  const raw = { data: new Uint8ClampedArray(4 * prep.width * prep.height * 4), width: 2 * prep.width, height: 2 * prep.height, channels: 4 as const };
  for (let i = 0; i < raw.data.length; i++) raw.data[i] = (i * 37) & 255;
  const runs = provider === 'wasm' ? WASM_WARMUP_RUNS : 1;
  const started = performance.now();
  for (let run = 0; run < runs; run++) {
    const input = { data: preprocessImage(raw, prep), channels: prep.channels, height: prep.height, width: prep.width };
    await inspector.inspectTensors([{ source: 'warm-up', input }], { returnMaps: true });
  }
  return performance.now() - started;
}

function sourceLabel(image: WebImageSource, index: number): string {
  if (typeof File !== 'undefined' && image instanceof File) {
    return (image as File & { webkitRelativePath?: string }).webkitRelativePath || image.name;
  }
  return `image ${index + 1}`;
}
