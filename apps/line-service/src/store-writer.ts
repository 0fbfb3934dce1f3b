/**
 * The results store's writer: its own SQLite connection on a worker thread. With
 * `synchronous = FULL` every commit waits for an fsync of the WAL; on the main thread that wait
 * would stall HTTP, decoding and scoring (measured on the 2-core dev machine under load: 14 % of
 * the main thread's time at 16 clients). The worker runs each commit as one transaction of
 * prepared statements and answers when it is durable; the main thread's connection only reads.
 *
 * The worker is a small CommonJS script (inline, so it runs the same from TypeScript sources,
 * tests and the built package) that loads the same better-sqlite3 this package resolves. It knows
 * no SQL of its own: statements come from the caller (store.ts), so the schema stays in one place.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driverPath);
const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 5000');
const statements = new Map();
const prepared = (sql) => {
  let statement = statements.get(sql);
  if (!statement) statements.set(sql, (statement = db.prepare(sql)));
  return statement;
};
const runAll = db.transaction((operations) => {
  for (const op of operations) prepared(op.sql).run(op.params);
});
parentPort.on('message', (message) => {
  if (message.type === 'close') {
    db.close();
    parentPort.postMessage({ id: message.id, ok: true });
    return;
  }
  try {
    runAll(message.operations);
    parentPort.postMessage({ id: message.id, ok: true });
  } catch (error) {
    parentPort.postMessage({ id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

/** One SQL statement and its named parameters. */
export interface WriteOperation {
  sql: string;
  params: Record<string, unknown>;
}

export class StoreWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor(file: string) {
    const driverPath = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driverPath, file } });
    this.worker.unref();
    this.worker.on('message', (reply: { id: number; ok: boolean; error?: string }) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      if (reply.ok) waiter.resolve();
      else waiter.reject(new Error(`results store: ${reply.error ?? 'write failed'}`));
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`results store writer stopped (exit ${code})`)));
  }

  /** Runs the operations in one transaction; resolves once it is committed (and fsynced). */
  write(operations: readonly WriteOperation[]): Promise<void> {
    return this.send({ type: 'write', operations });
  }

  async close(): Promise<void> {
    if (this.failure) return;
    await this.send({ type: 'close' });
    await this.worker.terminate();
  }

  private send(message: Record<string, unknown>): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...message, id });
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
