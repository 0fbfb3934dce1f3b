/**
 * Central PostgreSQL destination (`pg`): each line replicates its results' metadata (no images)
 * and its model activations. Idempotent: the key is (line_id, result_id) and inserts are
 * `ON CONFLICT DO NOTHING`, so re-sending a batch after an outage or a restart changes nothing.
 * Schema migrations are versioned in `residuum_schema` and applied under an advisory lock (many
 * lines may start at once). The plant report (plant-report.ts) reads the same tables.
 */
import pg from 'pg';
import type { Destination } from './drainer.js';
import { DestinationAuthError } from './mqtt.js';
import type { OutboxEntry } from './outbox.js';
import type { ModelEvent, ResultEvent } from './payload.js';

/** Append only: index + 1 is the version. */
export const CENTRAL_MIGRATIONS: readonly string[] = [
  `CREATE TABLE residuum_results (
     line_id text NOT NULL,
     result_id text NOT NULL,
     captured_at timestamptz NOT NULL,
     recorded_at timestamptz NOT NULL,
     station text,
     camera text,
     part_id text,
     source text NOT NULL,
     source_name text,
     verdict text NOT NULL CHECK (verdict IN ('ok', 'anomalous', 'error')),
     score double precision,
     normalized_score double precision,
     threshold double precision,
     model_version integer,
     model_name text,
     model_sha256 text,
     error text,
     latency_ms double precision,
     replicated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (line_id, result_id)
   );
   CREATE INDEX residuum_results_captured ON residuum_results (captured_at);
   CREATE TABLE residuum_model_events (
     line_id text NOT NULL,
     event_id text NOT NULL,
     activated_at timestamptz NOT NULL,
     version integer NOT NULL,
     name text NOT NULL,
     family text NOT NULL,
     sha256 text NOT NULL,
     threshold double precision NOT NULL,
     PRIMARY KEY (line_id, event_id)
   );`,
];

const MIGRATION_LOCK = 7_140_417; // any constant: the advisory lock all lines agree on

/** 28P01 invalid_password, 28000 invalid_authorization_specification. */
const PG_AUTH_CODES = new Set(['28P01', '28000']);

export async function migrateCentral(client: pg.ClientBase): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS residuum_schema (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const current = Number((await client.query('SELECT coalesce(max(version), 0) AS v FROM residuum_schema')).rows[0].v);
    if (current > CENTRAL_MIGRATIONS.length) throw new Error(`the central database has schema version ${current}, newer than this residuum (${CENTRAL_MIGRATIONS.length})`);
    for (let version = current; version < CENTRAL_MIGRATIONS.length; version += 1) {
      await client.query('BEGIN');
      try {
        await client.query(CENTRAL_MIGRATIONS[version]);
        await client.query('INSERT INTO residuum_schema (version) VALUES ($1)', [version + 1]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
    return CENTRAL_MIGRATIONS.length;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}

export class CentralDestination implements Destination {
  readonly name = 'central';
  private readonly pool: pg.Pool;
  private migrated = false;
  private lastOk = false;

  private constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000, query_timeout: 30_000 });
    // A connection dying (database restart), idle or checked out between queries, must not crash
    // the service: the failing query rejects and the drainer retries.
    this.pool.on('error', () => undefined);
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  /** Connects once: a credentials rejection throws DestinationAuthError; unreachable is fine (retried). */
  static async open(url: string, onUnreachable: (error: Error) => void): Promise<CentralDestination> {
    const destination = new CentralDestination(url);
    try {
      await destination.ensureSchema();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code && PG_AUTH_CODES.has(code)) {
        await destination.close();
        throw new DestinationAuthError('central.url', `PostgreSQL rejected the credentials (${code}: ${(error as Error).message})`);
      }
      onUnreachable(error as Error);
    }
    return destination;
  }

  get connected(): boolean {
    return this.lastOk;
  }

  private async ensureSchema(): Promise<void> {
    if (this.migrated) return;
    const client = await this.pool.connect();
    try {
      await migrateCentral(client);
      this.migrated = true;
    } finally {
      client.release();
    }
  }

  async deliver(entries: readonly OutboxEntry[]): Promise<void> {
    try {
      await this.ensureSchema();
      const results = entries.map((entry) => entry.event).filter((event): event is ResultEvent => event.kind === 'result');
      const models = entries.map((entry) => entry.event).filter((event): event is ModelEvent => event.kind === 'model');
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        if (results.length > 0) {
          await client.query(
            `INSERT INTO residuum_results (line_id, result_id, captured_at, recorded_at, station, camera, part_id, source, source_name, verdict,
               score, normalized_score, threshold, model_version, model_name, model_sha256, error, latency_ms)
             SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(line text, "resultId" text, "capturedAt" timestamptz, "recordedAt" timestamptz,
               station text, camera text, "partId" text, source text, "sourceName" text, verdict text, score float8, "normalizedScore" float8,
               threshold float8, "modelVersion" int, "modelName" text, "modelSha256" text, error text, "latencyMs" float8)
             ON CONFLICT (line_id, result_id) DO NOTHING`,
            [JSON.stringify(results.map((event) => ({ ...event, modelVersion: event.model?.version ?? null, modelName: event.model?.name ?? null, modelSha256: event.model?.sha256 ?? null })))],
          );
        }
        for (const event of models) {
          await client.query(
            `INSERT INTO residuum_model_events (line_id, event_id, activated_at, version, name, family, sha256, threshold)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (line_id, event_id) DO NOTHING`,
            [event.line, event.eventId, event.activatedAt, event.model.version, event.model.name, event.model.family, event.model.sha256, event.model.threshold],
          );
        }
        await client.query('COMMIT');
      } catch (error) {
        broken = error as Error;
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        // A client whose query failed may hold a dead connection: destroy it, not pool it.
        client.release(broken);
      }
      this.lastOk = true;
    } catch (error) {
      this.lastOk = false;
      throw new Error(`central: ${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
