/**
 * The durable outbox: one `outbox` row per (event, destination), inserted in the same SQLite
 * transaction as the result (a commit hook on the writer thread) or the model activation (a hook
 * on the store's connection), so an event exists exactly when its result does.
 *
 * Each destination drains its own rows in `seq` order; its delivery cursor is the lowest
 * undelivered seq (rows below it have `delivered_at` set). Delivered rows are pruned after
 * `keepDeliveredMs`; undelivered rows are never dropped. Their size is watched against a disk
 * budget: beyond it the outbox raises an alarm (metric, error log, /readyz detail) and keeps
 * writing, because dropping results a destination has not received is the one thing it must
 * not do. File retention (store.ts) already skips results with undelivered rows.
 *
 * This module reads and marks through its own connection with `synchronous = NORMAL`: losing a
 * "delivered" mark on power loss only re-sends an event (at-least-once), it never loses one.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { ulid } from 'ulid';
import type { ResultStore, ResultRow, ModelVersionRow } from '../store.js';
import type { WriteOperation } from '../store-writer.js';
import { modelEvent, resultEvent, type LineEvent } from './payload.js';

export interface OutboxEntry {
  seq: number;
  kind: 'result' | 'model';
  resultId: string | null;
  event: LineEvent;
}

/** Which events a destination wants. */
export type EventFilter = (event: LineEvent) => boolean;

const INSERT = `INSERT INTO outbox (destination, kind, result_id, payload, created_at) VALUES (@destination, @kind, @resultId, @payload, @createdAt)`;

export class Outbox {
  private readonly db: Database.Database;
  private readonly filters = new Map<string, EventFilter>();
  private readonly listeners: Array<() => void> = [];

  constructor(
    store: ResultStore,
    readonly line: string,
  ) {
    this.db = new Database(join(store.dataDir, 'results.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    store.onResultCommit((row) => this.rowsFor(resultEvent(line, row), row));
    store.onModelActivated((model, at) => this.insertModelEvent(model, at, store));
  }

  /** Adds a destination; events committed from now on get a row for it. */
  addDestination(name: string, filter: EventFilter = () => true): void {
    this.filters.set(name, filter);
  }

  get destinations(): string[] {
    return [...this.filters.keys()];
  }

  /** Called after each commit that may have added rows (the drainers wait on it). */
  onAppend(listener: () => void): void {
    this.listeners.push(listener);
  }

  notify(): void {
    for (const listener of this.listeners) listener();
  }

  private rowsFor(event: LineEvent, row: ResultRow | null): WriteOperation[] {
    const operations: WriteOperation[] = [];
    const payload = JSON.stringify(event);
    for (const [destination, filter] of this.filters) {
      if (!filter(event)) continue;
      operations.push({ sql: INSERT, params: { destination, kind: event.kind, resultId: row?.id ?? null, payload, createdAt: new Date().toISOString() } });
    }
    return operations;
  }

  private insertModelEvent(model: ModelVersionRow, at: string, store: ResultStore): void {
    const statement = store.db.prepare(INSERT);
    for (const operation of this.rowsFor(modelEvent(this.line, ulid(), model, at), null)) statement.run(operation.params);
    queueMicrotask(() => this.notify());
  }

  /** The oldest undelivered entries of a destination, in order. */
  pending(destination: string, limit: number): OutboxEntry[] {
    const rows = this.db
      .prepare('SELECT seq, kind, result_id, payload FROM outbox WHERE destination = ? AND delivered_at IS NULL ORDER BY seq LIMIT ?')
      .all(destination, limit) as Array<{ seq: number; kind: 'result' | 'model'; result_id: string | null; payload: string }>;
    return rows.map((row) => ({ seq: row.seq, kind: row.kind, resultId: row.result_id, event: JSON.parse(row.payload) as LineEvent }));
  }

  /** Moves the destination's cursor past `throughSeq`. */
  markDelivered(destination: string, throughSeq: number): void {
    this.db
      .prepare('UPDATE outbox SET delivered_at = ? WHERE destination = ? AND seq <= ? AND delivered_at IS NULL')
      .run(new Date().toISOString(), destination, throughSeq);
  }

  /** Undelivered entries per destination (every configured destination is listed, 0 included). */
  backlog(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const name of this.filters.keys()) counts[name] = 0;
    for (const row of this.db.prepare('SELECT destination, count(*) AS n FROM outbox WHERE delivered_at IS NULL GROUP BY destination').all() as Array<{
      destination: string;
      n: number;
    }>) {
      counts[row.destination] = row.n;
    }
    return counts;
  }

  /** Bytes of undelivered payloads (what the disk budget bounds). */
  pendingBytes(): number {
    return (this.db.prepare('SELECT coalesce(sum(length(payload)), 0) AS n FROM outbox WHERE delivered_at IS NULL').get() as { n: number }).n;
  }

  /** Removes delivered rows older than `keepMs`; returns how many. */
  pruneDelivered(keepMs: number, now = Date.now()): number {
    const cutoff = new Date(now - keepMs).toISOString();
    return this.db.prepare('DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?').run(cutoff).changes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
