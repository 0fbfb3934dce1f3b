/**
 * The results store: one SQLite database (better-sqlite3) in WAL mode, one row per image.
 *
 * Durability: `synchronous = FULL`. In WAL mode, NORMAL survives a process crash (kill -9) but can
 * lose the last commits on power loss; a line PC loses power, and a result we acknowledged to a
 * PLC must still be there afterwards, so every commit syncs the WAL. The cost is one fsync per
 * transaction, and the service commits each inference batch in one transaction (group commit),
 * so the fsync is shared by up to a batch of images.
 *
 * Files a row points to (heatmap, original image) are written and fsynced before the row
 * commits; files without a row (a crash between the two) are orphans and removed at start.
 *
 * Commits run on a writer thread (store-writer.ts) so the fsync never stalls the event loop; this
 * connection reads, migrates and keeps the models table.
 *
 * Extension point for destinations (MQTT, webhooks, central database): `onResultCommit` hooks add
 * statements to the result's own transaction, e.g. an `outbox` row per destination, so the outbox
 * entry commits or rolls back with the result. Retention never removes the files of a result
 * whose outbox entries are not yet delivered.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StoreWriter, type WriteOperation } from './store-writer.js';

export type Verdict = 'ok' | 'anomalous' | 'error';
export const VERDICTS: readonly Verdict[] = ['ok', 'anomalous', 'error'];

/** Where an image came from, as stored: `http` or `watch`. */
export type ResultSource = 'http' | 'watch';

/** The identity of a watch-folder file, stored with its result in the same transaction. */
export interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  sha256: string;
}

export interface ResultRow {
  id: string;
  /** ISO time the result was committed. */
  recordedAt: string;
  /** ISO time the image was taken (caller's, else when it arrived). */
  capturedAt: string;
  source: ResultSource;
  /** File name or caller's label. */
  sourceName: string | null;
  partId: string | null;
  station: string | null;
  camera: string | null;
  verdict: Verdict;
  score: number | null;
  normalizedScore: number | null;
  threshold: number | null;
  modelVersion: number | null;
  modelName: string | null;
  modelSha256: string | null;
  /** Milliseconds per stage (queue, decode, preprocess, inference, scoring, store, total). */
  latency: Record<string, number>;
  error: string | null;
  /** Paths relative to the files folder, null when not kept (or removed by retention). */
  heatmapFile: string | null;
  imageFile: string | null;
  file: FileIdentity | null;
}

export interface ModelVersionRow {
  version: number;
  sha256: string;
  name: string;
  family: string;
  threshold: number;
  file: string;
  addedAt: string;
  activatedAt: string | null;
}

export interface ResultQuery {
  from?: string;
  to?: string;
  verdict?: Verdict;
  partId?: string;
  /** Results with ids below this one (the previous page's `next`). */
  before?: string;
  limit: number;
}

/** Extra statements for a result's transaction (see the module comment). */
export type ResultCommitHook = (row: ResultRow) => WriteOperation[];

/** Runs on this connection inside the transaction that records a model activation. */
export type ModelActivationHook = (model: ModelVersionRow, activatedAt: string) => void;

/** Versioned migrations: index + 1 is the schema version (PRAGMA user_version). Append only. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE results (
     id TEXT PRIMARY KEY,
     recorded_at TEXT NOT NULL,
     captured_at TEXT NOT NULL,
     source TEXT NOT NULL,
     source_name TEXT,
     part_id TEXT,
     station TEXT,
     camera TEXT,
     verdict TEXT NOT NULL CHECK (verdict IN ('ok', 'anomalous', 'error')),
     score REAL,
     normalized_score REAL,
     threshold REAL,
     model_version INTEGER,
     model_name TEXT,
     model_sha256 TEXT,
     latency_json TEXT NOT NULL,
     error TEXT,
     heatmap_file TEXT,
     image_file TEXT,
     file_path TEXT,
     file_size INTEGER,
     file_mtime_ms REAL,
     file_sha256 TEXT
   ) WITHOUT ROWID;
   CREATE INDEX results_captured ON results (captured_at);
   CREATE INDEX results_verdict ON results (verdict, id);
   CREATE INDEX results_part ON results (part_id, id);
   CREATE UNIQUE INDEX results_file_identity ON results (file_path, file_size, file_mtime_ms, file_sha256) WHERE file_path IS NOT NULL;
   CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     destination TEXT NOT NULL,
     kind TEXT NOT NULL,
     result_id TEXT,
     payload TEXT NOT NULL,
     created_at TEXT NOT NULL,
     delivered_at TEXT
   );
   CREATE INDEX outbox_pending ON outbox (destination, seq) WHERE delivered_at IS NULL;
   CREATE TABLE models (
     version INTEGER PRIMARY KEY,
     sha256 TEXT NOT NULL UNIQUE,
     name TEXT NOT NULL,
     family TEXT NOT NULL,
     threshold REAL NOT NULL,
     file TEXT NOT NULL,
     added_at TEXT NOT NULL,
     activated_at TEXT
   );`,
];

const INSERT_RESULT = `INSERT INTO results (id, recorded_at, captured_at, source, source_name, part_id, station, camera, verdict, score,
    normalized_score, threshold, model_version, model_name, model_sha256, latency_json, error, heatmap_file, image_file,
    file_path, file_size, file_mtime_ms, file_sha256)
  VALUES (@id, @recordedAt, @capturedAt, @source, @sourceName, @partId, @station, @camera, @verdict, @score,
    @normalizedScore, @threshold, @modelVersion, @modelName, @modelSha256, @latencyJson, @error, @heatmapFile, @imageFile,
    @filePath, @fileSize, @fileMtimeMs, @fileSha256)`;

interface DbResultRow {
  id: string;
  recorded_at: string;
  captured_at: string;
  source: ResultSource;
  source_name: string | null;
  part_id: string | null;
  station: string | null;
  camera: string | null;
  verdict: Verdict;
  score: number | null;
  normalized_score: number | null;
  threshold: number | null;
  model_version: number | null;
  model_name: string | null;
  model_sha256: string | null;
  latency_json: string;
  error: string | null;
  heatmap_file: string | null;
  image_file: string | null;
  file_path: string | null;
  file_size: number | null;
  file_mtime_ms: number | null;
  file_sha256: string | null;
}

function fromDb(row: DbResultRow): ResultRow {
  return {
    id: row.id,
    recordedAt: row.recorded_at,
    capturedAt: row.captured_at,
    source: row.source,
    sourceName: row.source_name,
    partId: row.part_id,
    station: row.station,
    camera: row.camera,
    verdict: row.verdict,
    score: row.score,
    normalizedScore: row.normalized_score,
    threshold: row.threshold,
    modelVersion: row.model_version,
    modelName: row.model_name,
    modelSha256: row.model_sha256,
    latency: JSON.parse(row.latency_json) as Record<string, number>,
    error: row.error,
    heatmapFile: row.heatmap_file,
    imageFile: row.image_file,
    file:
      row.file_path === null
        ? null
        : { path: row.file_path, size: row.file_size ?? 0, mtimeMs: row.file_mtime_ms ?? 0, sha256: row.file_sha256 ?? '' },
  };
}

export class ResultStore {
  readonly db: Database.Database;
  readonly filesDir: string;
  private readonly hooks: ResultCommitHook[] = [];
  private readonly activationHooks: ModelActivationHook[] = [];
  private readonly writer: StoreWriter;

  constructor(readonly dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.filesDir = join(dataDir, 'files');
    mkdirSync(this.filesDir, { recursive: true });
    const file = join(dataDir, 'results.sqlite');
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.writer = new StoreWriter(file);
  }

  /** The schema version after migration (PRAGMA user_version). */
  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(): void {
    const current = this.schemaVersion;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `${join(this.dataDir, 'results.sqlite')} has schema version ${current}, newer than this residuum (${MIGRATIONS.length}); use a newer residuum or another --data-dir`,
      );
    }
    for (let version = current; version < MIGRATIONS.length; version += 1) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[version]);
        this.db.pragma(`user_version = ${version + 1}`);
      })();
    }
  }

  /** Runs inside each result's transaction (see the module comment). */
  onResultCommit(hook: ResultCommitHook): void {
    this.hooks.push(hook);
  }

  /** Commits rows in one transaction; resolves when it is durable (synchronous = FULL). */
  async commit(rows: readonly ResultRow[]): Promise<void> {
    if (rows.length === 0) return;
    const operations: WriteOperation[] = [];
    for (const row of rows) {
      operations.push({
        sql: INSERT_RESULT,
        params: {
          ...row,
          latencyJson: JSON.stringify(row.latency),
          filePath: row.file?.path ?? null,
          fileSize: row.file?.size ?? null,
          fileMtimeMs: row.file?.mtimeMs ?? null,
          fileSha256: row.file?.sha256 ?? null,
        },
      });
      for (const hook of this.hooks) operations.push(...hook(row));
    }
    await this.writer.write(operations);
  }

  get(id: string): ResultRow | null {
    const row = this.db.prepare('SELECT * FROM results WHERE id = ?').get(id) as DbResultRow | undefined;
    return row ? fromDb(row) : null;
  }

  /** The result already stored for this watch-folder file, if any. */
  findByFile(file: FileIdentity): ResultRow | null {
    const row = this.db
      .prepare('SELECT * FROM results WHERE file_path = ? AND file_size = ? AND file_mtime_ms = ? AND file_sha256 = ?')
      .get(file.path, file.size, file.mtimeMs, file.sha256) as DbResultRow | undefined;
    return row ? fromDb(row) : null;
  }

  /** Newest first; `before` pages by id (ULIDs sort by time). */
  query(query: ResultQuery): ResultRow[] {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: query.limit };
    if (query.from) (where.push('captured_at >= @from'), (params.from = query.from));
    if (query.to) (where.push('captured_at < @to'), (params.to = query.to));
    if (query.verdict) (where.push('verdict = @verdict'), (params.verdict = query.verdict));
    if (query.partId) (where.push('part_id = @partId'), (params.partId = query.partId));
    if (query.before) (where.push('id < @before'), (params.before = query.before));
    const sql = `SELECT * FROM results ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT @limit`;
    return (this.db.prepare(sql).all(params) as DbResultRow[]).map(fromDb);
  }

  /** Iterates all matching rows, newest first, without loading them all (for CSV export). */
  *iterate(query: Omit<ResultQuery, 'limit' | 'before'>): Generator<ResultRow> {
    let before: string | undefined;
    for (;;) {
      const page = this.query({ ...query, before, limit: 500 });
      yield* page;
      if (page.length < 500) return;
      before = page[page.length - 1].id;
    }
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM results').get() as { n: number }).n;
  }

  countsByVerdict(): Record<Verdict, number> {
    const counts: Record<Verdict, number> = { ok: 0, anomalous: 0, error: 0 };
    for (const row of this.db.prepare('SELECT verdict, count(*) AS n FROM results GROUP BY verdict').all() as Array<{ verdict: Verdict; n: number }>) {
      counts[row.verdict] = row.n;
    }
    return counts;
  }

  // ---- models ----

  listModels(): ModelVersionRow[] {
    return (this.db.prepare('SELECT * FROM models ORDER BY version').all() as Array<Record<string, unknown>>).map(modelFromDb);
  }

  modelBySha(sha256: string): ModelVersionRow | null {
    const row = this.db.prepare('SELECT * FROM models WHERE sha256 = ?').get(sha256) as Record<string, unknown> | undefined;
    return row ? modelFromDb(row) : null;
  }

  model(version: number): ModelVersionRow | null {
    const row = this.db.prepare('SELECT * FROM models WHERE version = ?').get(version) as Record<string, unknown> | undefined;
    return row ? modelFromDb(row) : null;
  }

  /** The next version number (never reused: the highest ever + 1). */
  nextModelVersion(): number {
    const row = this.db.prepare('SELECT max(version) AS v FROM models').get() as { v: number | null };
    return (row.v ?? 0) + 1;
  }

  addModel(model: Omit<ModelVersionRow, 'activatedAt'>): void {
    this.db
      .prepare('INSERT INTO models (version, sha256, name, family, threshold, file, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(model.version, model.sha256, model.name, model.family, model.threshold, model.file, model.addedAt);
  }

  onModelActivated(hook: ModelActivationHook): void {
    this.activationHooks.push(hook);
  }

  markActivated(version: number, at: string): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE models SET activated_at = ? WHERE version = ?').run(at, version);
      const model = this.model(version);
      if (model) for (const hook of this.activationHooks) hook(model, at);
    })();
  }

  /** The most recently activated model version, if any. */
  lastActivatedModel(): ModelVersionRow | null {
    const row = this.db.prepare('SELECT * FROM models WHERE activated_at IS NOT NULL ORDER BY activated_at DESC, version DESC LIMIT 1').get() as
      | Record<string, unknown>
      | undefined;
    return row ? modelFromDb(row) : null;
  }

  // ---- files: orphans and retention ----

  /** Removes files under files/ that no row points to (a crash between file write and commit). */
  removeOrphanFiles(): number {
    const referenced = new Set<string>();
    for (const row of this.db.prepare('SELECT heatmap_file, image_file FROM results WHERE heatmap_file IS NOT NULL OR image_file IS NOT NULL').iterate() as Iterable<{
      heatmap_file: string | null;
      image_file: string | null;
    }>) {
      if (row.heatmap_file) referenced.add(row.heatmap_file);
      if (row.image_file) referenced.add(row.image_file);
    }
    let removed = 0;
    for (const day of safeReaddir(this.filesDir)) {
      const dayDir = join(this.filesDir, day);
      for (const name of safeReaddir(dayDir)) {
        if (!referenced.has(`${day}/${name}`)) {
          rmSync(join(dayDir, name), { force: true });
          removed += 1;
        }
      }
      if (safeReaddir(dayDir).length === 0) rmSync(dayDir, { recursive: true, force: true });
    }
    return removed;
  }

  /**
   * Retention of the files (rows are kept: they are small and are the record). Removes the files
   * of results captured before `maxAgeDays`, then the oldest files until their total size is within
   * `diskBudgetBytes`. Returns how many files were removed.
   */
  applyRetention(policy: { maxAgeDays?: number; diskBudgetBytes?: number }, now = Date.now()): number {
    let removed = 0;
    const clear = this.db.prepare('UPDATE results SET heatmap_file = NULL, image_file = NULL WHERE id = ?');
    const drop = (row: { id: string; heatmap_file: string | null; image_file: string | null }) => {
      for (const file of [row.heatmap_file, row.image_file]) {
        if (file) {
          rmSync(join(this.filesDir, file), { force: true });
          removed += 1;
        }
      }
      clear.run(row.id);
    };
    const withFiles =
      'SELECT id, heatmap_file, image_file FROM results WHERE (heatmap_file IS NOT NULL OR image_file IS NOT NULL)' +
      ' AND id NOT IN (SELECT result_id FROM outbox WHERE delivered_at IS NULL AND result_id IS NOT NULL)';
    if (policy.maxAgeDays !== undefined) {
      const cutoff = new Date(now - policy.maxAgeDays * 86_400_000).toISOString();
      const rows = this.db.prepare(`${withFiles} AND recorded_at < ? ORDER BY id`).all(cutoff) as Array<{ id: string; heatmap_file: string | null; image_file: string | null }>;
      for (const row of rows) drop(row);
    }
    if (policy.diskBudgetBytes !== undefined) {
      let total = 0;
      const sizes = new Map<string, number>();
      for (const day of safeReaddir(this.filesDir)) {
        for (const name of safeReaddir(join(this.filesDir, day))) {
          const size = safeSize(join(this.filesDir, day, name));
          sizes.set(`${day}/${name}`, size);
          total += size;
        }
      }
      if (total > policy.diskBudgetBytes) {
        const drops: Array<{ id: string; heatmap_file: string | null; image_file: string | null }> = [];
        for (const row of this.db.prepare(`${withFiles} ORDER BY id`).iterate() as Iterable<{ id: string; heatmap_file: string | null; image_file: string | null }>) {
          if (total <= policy.diskBudgetBytes) break;
          total -= (row.heatmap_file ? (sizes.get(row.heatmap_file) ?? 0) : 0) + (row.image_file ? (sizes.get(row.image_file) ?? 0) : 0);
          drops.push(row);
        }
        for (const row of drops) drop(row);
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    await this.writer.close();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}

function modelFromDb(row: Record<string, unknown>): ModelVersionRow {
  return {
    version: row.version as number,
    sha256: row.sha256 as string,
    name: row.name as string,
    family: row.family as string,
    threshold: row.threshold as number,
    file: row.file as string,
    addedAt: row.added_at as string,
    activatedAt: (row.activated_at as string | null) ?? null,
  };
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function safeSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
