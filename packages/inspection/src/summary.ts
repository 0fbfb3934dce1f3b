import type { ExecutionProvider, InspectionResult } from './inspector.js';

export interface InspectionSummary {
  total: number;
  ok: number;
  anomalous: number;
  errors: number;
  /** Providers that produced the scored results (one, unless results from several runs are merged). */
  providers: ExecutionProvider[];
  /** Scored images per second of wall time, when wallMs is given (else per second of summed per-image time). */
  imagesPerSecond: number | null;
  /** Median and 95th percentile of the per-image total time, in ms (scored images only). */
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
}

/** Counts and throughput over a run's results; `wallMs` is the run's elapsed time if known. */
export function summarize(results: readonly InspectionResult[], wallMs?: number): InspectionSummary {
  const scored = results.filter((result) => result.ok);
  const anomalous = scored.filter((result) => result.isAnomalous).length;
  const totals = scored.map((result) => result.timings.totalMs).sort((a, b) => a - b);
  const elapsedMs = wallMs ?? totals.reduce((sum, ms) => sum + ms, 0);
  return {
    total: results.length,
    ok: scored.length - anomalous,
    anomalous,
    errors: results.length - scored.length,
    providers: [...new Set(scored.map((result) => result.provider))],
    imagesPerSecond: scored.length > 0 && elapsedMs > 0 ? (scored.length * 1000) / elapsedMs : null,
    latencyP50Ms: percentile(totals, 0.5),
    latencyP95Ms: percentile(totals, 0.95),
  };
}

/** Nearest-rank percentile of ascending values. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}
