/**
 * What `residuum report --central` shows, read from the central PostgreSQL tables (central.ts):
 * defect rate per line, station and model version, the defect rate of each line over time, and
 * the top anomalies. Rendering lives in the CLI (apps/cli/src/report/plant-report.ts).
 */
import pg from 'pg';
import { redact } from './mqtt.js';

export interface PlantGroup {
  line: string;
  station: string | null;
  modelVersion: number | null;
  modelName: string | null;
  results: number;
  anomalous: number;
  errors: number;
}

export interface PlantSeries {
  line: string;
  /** Bucket start (ISO), results and rejected (anomalous + error) in it. */
  points: Array<{ start: string; results: number; rejected: number }>;
}

export interface PlantAnomaly {
  line: string;
  station: string | null;
  resultId: string;
  capturedAt: string;
  partId: string | null;
  score: number | null;
  normalizedScore: number | null;
  threshold: number | null;
  modelVersion: number | null;
}

export interface PlantReportData {
  central: string;
  since: string;
  until: string;
  bucketSeconds: number;
  groups: PlantGroup[];
  series: PlantSeries[];
  top: PlantAnomaly[];
}

export class PlantReportError extends Error {
  override readonly name = 'PlantReportError';
}

export async function loadPlantReport(url: string, sinceMs: number, { now = Date.now(), top = 20 }: { now?: number; top?: number } = {}): Promise<PlantReportData> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new PlantReportError(`--central ${redact(url)}: cannot connect (${(error as Error).message})`);
  }
  try {
    const exists = await client.query("SELECT to_regclass('residuum_results') IS NOT NULL AS ok");
    if (!exists.rows[0].ok) throw new PlantReportError(`--central ${redact(url)}: no residuum_results table: no line has replicated to this database yet (residuum serve --central ...)`);
    const since = new Date(now - sinceMs).toISOString();
    const until = new Date(now).toISOString();
    // About 48 buckets over the period, at least a minute each.
    const bucketSeconds = Math.max(60, Math.round(sinceMs / 1000 / 48));
    const groups = await client.query(
      `SELECT line_id, station, model_version, max(model_name) AS model_name, count(*)::int AS results,
              (count(*) FILTER (WHERE verdict = 'anomalous'))::int AS anomalous, (count(*) FILTER (WHERE verdict = 'error'))::int AS errors
         FROM residuum_results WHERE captured_at >= $1 AND captured_at <= $2
        GROUP BY line_id, station, model_version ORDER BY line_id, station NULLS FIRST, model_version NULLS FIRST`,
      [since, until],
    );
    const buckets = await client.query(
      `SELECT line_id, to_timestamp(floor(extract(epoch FROM captured_at) / $3) * $3) AS start, count(*)::int AS results,
              (count(*) FILTER (WHERE verdict <> 'ok'))::int AS rejected
         FROM residuum_results WHERE captured_at >= $1 AND captured_at <= $2
        GROUP BY line_id, start ORDER BY line_id, start`,
      [since, until, bucketSeconds],
    );
    const anomalies = await client.query(
      `SELECT line_id, station, result_id, captured_at, part_id, score, normalized_score, threshold, model_version
         FROM residuum_results WHERE captured_at >= $1 AND captured_at <= $2 AND verdict = 'anomalous'
        ORDER BY normalized_score DESC NULLS LAST, score DESC NULLS LAST LIMIT $3`,
      [since, until, top],
    );
    const series = new Map<string, PlantSeries>();
    for (const row of buckets.rows as Array<{ line_id: string; start: Date; results: number; rejected: number }>) {
      const entry = series.get(row.line_id) ?? { line: row.line_id, points: [] };
      entry.points.push({ start: row.start.toISOString(), results: row.results, rejected: row.rejected });
      series.set(row.line_id, entry);
    }
    return {
      central: redact(url),
      since,
      until,
      bucketSeconds,
      groups: (groups.rows as Array<Record<string, unknown>>).map((row) => ({
        line: row.line_id as string,
        station: row.station as string | null,
        modelVersion: row.model_version as number | null,
        modelName: row.model_name as string | null,
        results: row.results as number,
        anomalous: row.anomalous as number,
        errors: row.errors as number,
      })),
      series: [...series.values()],
      top: (anomalies.rows as Array<Record<string, unknown>>).map((row) => ({
        line: row.line_id as string,
        station: row.station as string | null,
        resultId: row.result_id as string,
        capturedAt: (row.captured_at as Date).toISOString(),
        partId: row.part_id as string | null,
        score: row.score as number | null,
        normalizedScore: row.normalized_score as number | null,
        threshold: row.threshold as number | null,
        modelVersion: row.model_version as number | null,
      })),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
