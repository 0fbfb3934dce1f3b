/**
 * The inspection contract, defined once (after onnxruntime's `common` package): runtime-node
 * and runtime-web each implement `Inspector` for their own image sources and execution
 * providers; `inspector-impl.ts` holds everything between "model outputs" and "verdict",
 * so both score identically.
 */
import type { ModelCard } from '@residuum/scoring';

/** Execution providers across both runtimes. */
export type ExecutionProvider = 'cuda' | 'cpu' | 'webgpu' | 'wasm';
/** What the caller asks for: one provider, or 'auto' (the runtime's documented order). */
export type ProviderRequest = 'auto' | ExecutionProvider;

/** One try at creating a session on a provider; failures keep their reason. */
export interface ProviderAttempt {
  provider: ExecutionProvider;
  ok: boolean;
  reason?: string;
}

import type { ModelInputImage, ScalarMap } from '@residuum/scoring';

export type { ModelInputImage, ScalarMap };

export interface InspectionTimings {
  /** Decoding plus preprocessing. */
  preprocessMs: number;
  /** The decoding part of preprocessMs, where the runtime reports it apart (runtime-node). */
  decodeMs?: number;
  inferenceMs: number;
  scoringMs: number;
  totalMs: number;
}

export interface InspectOptions {
  /** Overrides the card's threshold for the verdict. */
  threshold?: number;
  /** Return the anomaly map (and reconstruction, uncertainty) with each result. */
  returnMaps?: boolean;
  /** MC-Dropout passes; default from the card (models without dropout ignore it). */
  mcSamples?: number;
}

export interface InspectionSuccess {
  ok: true;
  /** Path, file name or caller-given label. */
  source: string;
  score: number;
  /** 0..1, the threshold maps to 0.5 (calibration stats from the card). */
  normalizedScore: number;
  isAnomalous: boolean;
  threshold: number;
  provider: ExecutionProvider;
  timings: InspectionTimings;
  /** Present with returnMaps. */
  map?: ScalarMap;
  /** Present with returnMaps: the model input and its reconstruction (CHW, model space). */
  input?: ModelInputImage;
  reconstruction?: ModelInputImage;
  /** MC-Dropout models with returnMaps: per-pixel variance over the stochastic passes. */
  uncertainty?: ScalarMap;
}

/** A bad image is an entry, not an abort: the run continues and the summary counts it. */
export interface InspectionFailure {
  ok: false;
  source: string;
  error: string;
}

export type InspectionResult = InspectionSuccess | InspectionFailure;

/**
 * One loaded model on one execution provider.
 * TImage is the runtime's image source: a path or Buffer in Node; File, Blob, ImageBitmap,
 * ImageData or canvas in the browser.
 */
export interface Inspector<TImage> {
  readonly card: ModelCard;
  /** The provider that actually runs the session. */
  readonly provider: ExecutionProvider;
  /** Every provider tried, in order, with the reason for each failure. */
  readonly attempts: readonly ProviderAttempt[];
  inspect(images: readonly TImage[], options?: InspectOptions): Promise<InspectionResult[]>;
  dispose(): Promise<void>;
}
