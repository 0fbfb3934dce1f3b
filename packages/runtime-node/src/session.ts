/**
 * onnxruntime-node session creation with an explicit execution provider. `auto` tries CUDA,
 * then CPU; every attempt is recorded with its reason. A provider that was asked for by
 * name and fails is an error: there is no silent switch to another provider.
 */
import * as ort from 'onnxruntime-node';
import type { ExecutionProvider, ModelFeeds, ModelOutputs, ProviderAttempt, ProviderRequest } from '@residuum/inspection';
import { WorkerSession } from './worker-session.js';

export type NodeProviderRequest = Exclude<ProviderRequest, 'wasm'>;
export type NodeExecutionProvider = Exclude<ExecutionProvider, 'wasm'>;

const NODE_PROVIDERS: readonly NodeProviderRequest[] = ['auto', 'cuda', 'cpu', 'webgpu'];
const AUTO_ORDER: readonly NodeExecutionProvider[] = ['cuda', 'cpu'];

/** The requested execution provider(s) could not be used; `attempts` says why, per provider. */
export class ExecutionProviderError extends Error {
  override readonly name = 'ExecutionProviderError';
  constructor(
    message: string,
    readonly attempts: readonly ProviderAttempt[],
  ) {
    super(message);
  }
}

/** Where session.run computes: a worker thread (default) or the calling (main) thread. */
export type InferenceThread = 'worker' | 'main';

export interface SessionSettings {
  /** Intra-op threads of the CPU provider (onnxruntime's default: one per physical core). */
  threads?: number;
  /** Default 'worker'. */
  thread?: InferenceThread;
  /** onnxruntime's log level for the worker's onnxruntime instance (the main thread's is ort.env). */
  logLevel?: string;
  /** Let intra-op threads spin-wait between runs (onnxruntime's default); default false. */
  spinWait?: boolean;
  /** Runs come with varying batch sizes: turn off onnxruntime's memory pattern (see NodeInspectorOptions). */
  variableBatches?: boolean;
}

/** A created session, whichever thread it runs on. */
export interface ModelSession {
  run(feeds: ModelFeeds): Promise<ModelOutputs>;
  release(): Promise<void>;
}

export interface CreatedSession {
  session: ModelSession;
  provider: NodeExecutionProvider;
  attempts: ProviderAttempt[];
}

export function assertProviderRequest(value: unknown): asserts value is NodeProviderRequest {
  if (!NODE_PROVIDERS.includes(value as NodeProviderRequest)) {
    throw new RangeError(
      `provider must be one of ${NODE_PROVIDERS.join(', ')}, got ${JSON.stringify(value)}` +
        (value === 'wasm' ? " ('wasm' is the browser runtime's provider)" : ''),
    );
  }
}

/** Creates the session on the requested provider, or throws ExecutionProviderError. */
export async function createSession(
  model: Uint8Array,
  request: NodeProviderRequest,
  settings: SessionSettings,
): Promise<CreatedSession> {
  assertProviderRequest(request);
  const order = request === 'auto' ? AUTO_ORDER : [request];
  const attempts: ProviderAttempt[] = [];
  const thread = settings.thread ?? 'worker';
  // One worker for all attempts: a failed provider leaves it ready for the next one.
  const worker = thread === 'worker' ? new WorkerSession(settings.logLevel) : null;
  for (const provider of order) {
    try {
      const options = sessionOptions(provider, settings, request === 'auto');
      let session: ModelSession;
      if (worker) {
        await worker.create(model, options);
        session = worker;
      } else {
        session = mainThreadSession(await ort.InferenceSession.create(model, options));
      }
      attempts.push({ provider, ok: true });
      return { session, provider, attempts };
    } catch (error) {
      attempts.push({ provider, ok: false, reason: explainFailure(provider, error) });
    }
  }
  await worker?.release();
  const failures = attempts.map((attempt) => attempt.reason).join('; ');
  throw new ExecutionProviderError(
    request === 'auto' ? `no execution provider could run the model: ${failures}` : failures,
    attempts,
  );
}

function mainThreadSession(session: ort.InferenceSession): ModelSession {
  return {
    async run(feeds) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor('float32', tensor.data, tensor.dims);
      const results = await session.run(ortFeeds);
      const outputs: ModelOutputs = {};
      for (const [name, tensor] of Object.entries(results)) {
        if (tensor.type !== 'float32') throw new TypeError(`output '${name}' is ${tensor.type}, expected float32`);
        outputs[name] = { data: tensor.data as Float32Array, dims: tensor.dims };
      }
      return outputs;
    },
    release: () => session.release(),
  };
}

function sessionOptions(
  provider: NodeExecutionProvider,
  settings: SessionSettings,
  quietFailures: boolean,
): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    // In auto mode a missing CUDA library is expected and reported in `attempts`;
    // keep onnxruntime's own error print off the console (level 4 = fatal only).
    logSeverityLevel: quietFailures && provider !== 'cpu' ? 4 : 3,
  };
  if (settings.threads !== undefined) {
    options.intraOpNumThreads = settings.threads;
    options.interOpNumThreads = 1;
  }
  // onnxruntime's intra-op threads spin-wait for work after each run by default: on a line PC
  // with few cores that spinning takes the CPU from the decoding and scoring running beside
  // inference (measured on 2 cores: t2 streamed 23-64 img/s spinning, 73-128 without).
  if (!settings.spinWait) options.extra = { session: { intra_op: { allow_spinning: '0' } } };
  if (settings.variableBatches) options.enableMemPattern = false;
  return options;
}

/** The first line of onnxruntime's message, with the remedy for the common cases. */
export function explainFailure(provider: NodeExecutionProvider, error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const firstLine = raw.split('\n')[0].trim();
  switch (provider) {
    case 'cuda':
      return (
        `CUDA execution provider unavailable: ${firstLine}; install onnxruntime-node with the CUDA binaries ` +
        '(npm install onnxruntime-node --onnxruntime-node-install=cuda12; needs CUDA 12 and cuDNN 9, see README)'
      );
    case 'webgpu':
      return (
        `WebGPU execution provider unavailable: ${firstLine.replace(/^.*?(Failed to get a WebGPU adapter)/, '$1')}` +
        (/adapter/i.test(firstLine)
          ? ' (no GPU adapter: install a Vulkan driver, or for a correctness check run with ' +
            'LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json, see README)'
          : '')
      );
    default:
      return `${provider.toUpperCase()} execution provider failed: ${firstLine}`;
  }
}
