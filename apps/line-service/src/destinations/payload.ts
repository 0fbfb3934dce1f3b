/**
 * The versioned JSON payload every destination receives (MQTT, webhooks; the central database
 * stores the same fields as columns). Schema: apps/line-service/schemas/line-event.v1.schema.json.
 * Every result message carries the result id and the capture time, so a consumer can drop a
 * late duplicate (at-least-once delivery) instead of letting it drive a reject gate.
 */
import type { ResultRow, ModelVersionRow } from '../store.js';

export const PAYLOAD_SCHEMA = 'residuum.line-event/v1';

export interface ResultEvent {
  schema: typeof PAYLOAD_SCHEMA;
  kind: 'result';
  line: string;
  resultId: string;
  capturedAt: string;
  recordedAt: string;
  station: string | null;
  camera: string | null;
  partId: string | null;
  source: ResultRow['source'];
  sourceName: string | null;
  verdict: ResultRow['verdict'];
  /** true for `anomalous` and `error` (a PLC rejects both). */
  reject: boolean;
  score: number | null;
  normalizedScore: number | null;
  threshold: number | null;
  model: { version: number; name: string | null; sha256: string | null } | null;
  error: string | null;
  latencyMs: number | null;
}

export interface ModelEvent {
  schema: typeof PAYLOAD_SCHEMA;
  kind: 'model';
  line: string;
  eventId: string;
  activatedAt: string;
  model: { version: number; name: string; family: string; sha256: string; threshold: number };
}

export type LineEvent = ResultEvent | ModelEvent;

export function resultEvent(line: string, row: ResultRow): ResultEvent {
  return {
    schema: PAYLOAD_SCHEMA,
    kind: 'result',
    line,
    resultId: row.id,
    capturedAt: row.capturedAt,
    recordedAt: row.recordedAt,
    station: row.station,
    camera: row.camera,
    partId: row.partId,
    source: row.source,
    sourceName: row.sourceName,
    verdict: row.verdict,
    reject: row.verdict !== 'ok',
    score: row.score,
    normalizedScore: row.normalizedScore,
    threshold: row.threshold,
    model: row.modelVersion === null ? null : { version: row.modelVersion, name: row.modelName, sha256: row.modelSha256 },
    error: row.error,
    latencyMs: row.latency.total ?? null,
  };
}

export function modelEvent(line: string, eventId: string, model: ModelVersionRow, activatedAt: string): ModelEvent {
  return {
    schema: PAYLOAD_SCHEMA,
    kind: 'model',
    line,
    eventId,
    activatedAt,
    model: { version: model.version, name: model.name, family: model.family, sha256: model.sha256, threshold: model.threshold },
  };
}
