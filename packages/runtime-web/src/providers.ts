/**
 * Session creation, one execution provider per attempt. Listing ['webgpu', 'wasm'] in one
 * InferenceSession.create lets onnxruntime-web fall back silently, with no way to tell which
 * provider runs; trying them one by one records what happened and why.
 *
 * Each provider loads its own onnxruntime-web entry, on demand: WebGPU the entry that carries
 * the native WebGPU provider (`onnxruntime-web/webgpu`, a 27 MB asyncify WASM build), WASM the
 * plain `onnxruntime-web/wasm` build (14 MB). A factory PC without a GPU thus never downloads
 * the larger build; and in Node's V8 the WASM provider of the asyncify build measured 6-30x
 * slower than the plain one on the 128x128 benchmark CAE (in chromium the two were within noise).
 */
import type * as Ort from 'onnxruntime-web/webgpu';
import type { ProviderAttempt, ProviderRequest } from '@residuum/inspection';
import { errorMessage } from './model-source.js';

export type WebProvider = 'webgpu' | 'wasm';
export type WebProviderRequest = 'auto' | WebProvider;

/** What the WebGPU adapter said about itself (SwiftShader reports isFallbackAdapter: true). */
export interface WebGpuAdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
}

/** One onnxruntime-web entry (both have the same API; each has its own env and WASM module). */
export type OrtModule = typeof Ort;

const loadOrt: Record<WebProvider, () => Promise<OrtModule>> = {
  webgpu: () => import('onnxruntime-web/webgpu'),
  wasm: () => import('onnxruntime-web/wasm'),
};

/** WASM settings, applied to an entry before its first session (onnxruntime-web reads them once). */
export interface WasmSettings {
  wasmPaths?: string;
  numThreads: number;
}

export interface SelectedSession {
  ort: OrtModule;
  session: Ort.InferenceSession;
  provider: WebProvider;
  attempts: ProviderAttempt[];
  adapter?: WebGpuAdapterSummary;
}

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}

/** WebGPU adapter of this page, or the reason there is none. */
export async function probeWebGpu(): Promise<{ adapter: GpuAdapterLike } | { reason: string }> {
  const gpu = (globalThis.navigator as (Navigator & { gpu?: GpuLike }) | undefined)?.gpu;
  if (!gpu) {
    return { reason: 'navigator.gpu is undefined (this browser or context does not expose WebGPU; it needs a secure context)' };
  }
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { reason: 'navigator.gpu.requestAdapter() returned null (no usable GPU adapter)' };
    return { adapter };
  } catch (error) {
    return { reason: `navigator.gpu.requestAdapter() failed: ${errorMessage(error)}` };
  }
}

function summarizeAdapter(adapter: GpuAdapterLike): WebGpuAdapterSummary {
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    description: info.description ?? '',
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
  };
}

export function providerOrder(request: WebProviderRequest): WebProvider[] {
  if (request === 'auto') return ['webgpu', 'wasm'];
  if (request === 'webgpu' || request === 'wasm') return [request];
  throw new RangeError(`provider must be 'auto', 'webgpu' or 'wasm', got '${String(request as ProviderRequest)}'`);
}

export async function createSessionOnProviders(
  modelBytes: Uint8Array,
  request: WebProviderRequest,
  sessionOptions: (provider: WebProvider) => Ort.InferenceSession.SessionOptions,
  wasm: WasmSettings,
): Promise<SelectedSession> {
  const attempts: ProviderAttempt[] = [];
  let adapter: WebGpuAdapterSummary | undefined;
  for (const provider of providerOrder(request)) {
    if (provider === 'webgpu') {
      const probe = await probeWebGpu();
      if ('reason' in probe) {
        attempts.push({ provider, ok: false, reason: probe.reason });
        continue;
      }
      adapter = summarizeAdapter(probe.adapter);
    }
    try {
      const ort = await loadOrt[provider]();
      if (wasm.wasmPaths !== undefined) ort.env.wasm.wasmPaths = wasm.wasmPaths;
      ort.env.wasm.numThreads = wasm.numThreads;
      const session = await ort.InferenceSession.create(modelBytes, {
        ...sessionOptions(provider),
        executionProviders: [provider],
      });
      attempts.push({ provider, ok: true });
      return { ort, session, provider, attempts, ...(provider === 'webgpu' && adapter ? { adapter } : {}) };
    } catch (error) {
      attempts.push({ provider, ok: false, reason: `session creation failed: ${errorMessage(error)}` });
    }
  }
  const tried = attempts.map((a) => `${a.provider}: ${a.reason ?? 'failed'}`).join('; ');
  throw new ProviderUnavailableError(`no execution provider could run the model (${tried})`, attempts);
}

export class ProviderUnavailableError extends Error {
  constructor(
    message: string,
    readonly attempts: readonly ProviderAttempt[],
  ) {
    super(message);
    this.name = 'ProviderUnavailableError';
  }
}
