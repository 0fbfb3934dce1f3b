import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS, wasmTrainingKernelsRegistered } from './wasm-kernels.js';

export type BackendRequest = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export const BACKEND_REQUESTS: readonly BackendRequest[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export interface BackendSelection {
  /** The tf.getBackend() name now active: 'tensorflow' (tfjs-node / tfjs-node-gpu), 'wasm' or 'cpu'. */
  backend: string;
  /** Why this backend is active, in one sentence for the start-up log. */
  reason: string;
  /** Faster backends that were tried first and could not be loaded, with the real error message. */
  skipped: Array<{ name: string; reason: string }>;
}

export class BackendUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendUnavailableError';
  }
}

const CPU_WARNING =
  "the pure-JS 'cpu' backend is about 100x slower than wasm for conv-net training (more than 19 minutes for one batch of 16 images at 128x128x3); use it only for tiny checks";

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.message;
  return String(error);
}

/**
 * Loads a tfjs-node flavour. Both register the 'tensorflow' backend; they are optionalDependencies whose
 * install downloads libtensorflow, so they are usually absent: the import error is the honest reason.
 */
async function tryNative(packageName: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<string | null> {
  try {
    // A variable specifier keeps bundlers and tsc from requiring the optional module to exist.
    const specifier: string = packageName;
    await import(specifier);
  } catch (error) {
    return `${packageName} could not be loaded: ${errorMessage(error)}`;
  }
  try {
    if (!(await tf.setBackend('tensorflow'))) return `${packageName} loaded but the 'tensorflow' backend failed to initialise`;
    await tf.ready();
    return null;
  } catch (error) {
    return `${packageName} loaded but the 'tensorflow' backend failed to initialise: ${errorMessage(error)}`;
  }
}

let wasmDirectory: string | undefined;

/** Directory holding tfjs-backend-wasm's .wasm binaries (node_modules/@tensorflow/tfjs-backend-wasm/dist/). */
export function wasmBinaryDirectory(): string {
  if (wasmDirectory === undefined) {
    const require = createRequire(import.meta.url);
    // "main" is dist/tf-backend-wasm.node.js, next to the .wasm files.
    wasmDirectory = `${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`;
  }
  return wasmDirectory;
}

async function tryWasm(options: { customKernels: boolean }): Promise<string | null> {
  try {
    setWasmPaths(wasmBinaryDirectory());
    if (options.customKernels) registerWasmTrainingKernels();
    if (!(await tf.setBackend('wasm'))) return "the 'wasm' backend failed to initialise";
    await tf.ready();
    return null;
  } catch (error) {
    return `the 'wasm' backend failed to initialise: ${errorMessage(error)}`;
  }
}

export interface InitBackendOptions {
  /**
   * Register Residuum's training kernels on wasm (Conv2DBackpropFilter, a fast Conv2DBackpropInput, Tile).
   * Only the benchmark turns this off, to measure the stock backend.
   */
  wasmCustomKernels?: boolean;
}

/**
 * Activates the fastest TF.js backend for training that works on this machine, or the one asked for.
 * 'auto' tries tfjs-node-gpu, then tfjs-node, then wasm with our kernels; it never falls back to 'cpu'.
 * A forced backend that cannot be loaded throws BackendUnavailableError naming the reason.
 */
export async function initBackend(request: BackendRequest, options: InitBackendOptions = {}): Promise<BackendSelection> {
  if (!BACKEND_REQUESTS.includes(request)) {
    throw new BackendUnavailableError(
      `initBackend: unknown backend ${JSON.stringify(request)}; expected one of ${BACKEND_REQUESTS.join(', ')}`,
    );
  }
  const customKernels = options.wasmCustomKernels ?? true;
  const skipped: BackendSelection['skipped'] = [];
  if (!customKernels && wasmTrainingKernelsRegistered()) {
    throw new BackendUnavailableError(
      "initBackend: the stock wasm kernels were requested (wasmCustomKernels: false) but Residuum's training kernels are already registered in this thread; use a fresh process",
    );
  }
  const wasmReason = customKernels
    ? `wasm (XNNPACK, SIMD, one thread) with Residuum training kernels (${WASM_TRAINING_KERNELS.join(', ')})`
    : 'wasm (XNNPACK, SIMD, one thread) with the stock kernels only (no Conv2DBackpropFilter: conv nets cannot train)';

  if (request === 'auto') {
    for (const [name, packageName] of [
      ['tensorflow-gpu', '@tensorflow/tfjs-node-gpu'],
      ['tensorflow', '@tensorflow/tfjs-node'],
    ] as const) {
      const failure = await tryNative(packageName);
      if (failure === null) {
        return { backend: tf.getBackend(), reason: `${packageName} (native libtensorflow) is the fastest backend that loaded`, skipped };
      }
      skipped.push({ name, reason: failure });
    }
    const failure = await tryWasm({ customKernels });
    if (failure === null) return { backend: 'wasm', reason: `${wasmReason}; no native TensorFlow is installed`, skipped };
    skipped.push({ name: 'wasm', reason: failure });
    throw new BackendUnavailableError(
      `initBackend('auto'): no training backend could be loaded (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}). ` +
        `The 'cpu' backend is not chosen automatically: ${CPU_WARNING}; pass 'cpu' explicitly to force it.`,
    );
  }

  if (request === 'tensorflow-gpu' || request === 'tensorflow') {
    const packageName = request === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    const failure = await tryNative(packageName);
    if (failure !== null) {
      throw new BackendUnavailableError(
        `Backend '${request}' was requested but is unavailable: ${failure}. Install ${packageName} (it downloads libtensorflow) or use 'wasm'.`,
      );
    }
    return { backend: tf.getBackend(), reason: `forced by request: ${packageName}`, skipped };
  }

  if (request === 'wasm') {
    const failure = await tryWasm({ customKernels });
    if (failure !== null) throw new BackendUnavailableError(`Backend 'wasm' was requested but is unavailable: ${failure}`);
    return { backend: 'wasm', reason: `forced by request: ${wasmReason}`, skipped };
  }

  if (!(await tf.setBackend('cpu'))) throw new BackendUnavailableError("Backend 'cpu' was requested but failed to initialise");
  await tf.ready();
  return { backend: 'cpu', reason: `forced by request; warning: ${CPU_WARNING}`, skipped };
}
