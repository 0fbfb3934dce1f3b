/** The result as the API, the event stream and the CSV export show it (one shape, defined once). */
import type { ResultRow } from './store.js';

export interface ApiResult {
  id: string;
  verdict: ResultRow['verdict'];
  score: number | null;
  normalizedScore: number | null;
  threshold: number | null;
  model: { version: number; name: string | null; sha256: string | null } | null;
  partId: string | null;
  station: string | null;
  camera: string | null;
  source: ResultRow['source'];
  sourceName: string | null;
  capturedAt: string;
  recordedAt: string;
  latencyMs: Record<string, number>;
  error: string | null;
  heatmap: string | null;
  image: string | null;
  file: ResultRow['file'];
}

export function toApiResult(row: ResultRow): ApiResult {
  return {
    id: row.id,
    verdict: row.verdict,
    score: row.score,
    normalizedScore: row.normalizedScore,
    threshold: row.threshold,
    model: row.modelVersion === null ? null : { version: row.modelVersion, name: row.modelName, sha256: row.modelSha256 },
    partId: row.partId,
    station: row.station,
    camera: row.camera,
    source: row.source,
    sourceName: row.sourceName,
    capturedAt: row.capturedAt,
    recordedAt: row.recordedAt,
    latencyMs: row.latency,
    error: row.error,
    heatmap: row.heatmapFile ? `/v1/results/${row.id}/heatmap.png` : null,
    image: row.imageFile ? `/v1/results/${row.id}/image` : null,
    file: row.file,
  };
}

const CSV_COLUMNS = [
  'id', 'captured_at', 'recorded_at', 'source', 'source_name', 'part_id', 'station', 'camera', 'verdict', 'score',
  'normalized_score', 'threshold', 'model_version', 'model_name', 'model_sha256', 'latency_total_ms', 'error',
] as const;

export function resultsCsvHeader(): string {
  return CSV_COLUMNS.join(',');
}

/** Text cells are quoted; a leading = + - @ gets a ' so spreadsheets do not run it as a formula. */
function textCell(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(safe) || safe !== value ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function numberCell(value: number | null | undefined): string {
  return value === null || value === undefined ? '' : String(value);
}

export function resultCsvLine(row: ResultRow): string {
  return [
    textCell(row.id), textCell(row.capturedAt), textCell(row.recordedAt), textCell(row.source), textCell(row.sourceName),
    textCell(row.partId), textCell(row.station), textCell(row.camera), textCell(row.verdict), numberCell(row.score),
    numberCell(row.normalizedScore), numberCell(row.threshold), numberCell(row.modelVersion), textCell(row.modelName),
    textCell(row.modelSha256), numberCell(row.latency.total), textCell(row.error),
  ].join(',');
}
