/** The results store: migrations, orphan files, retention by age and disk budget. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ResultStore, type ResultRow } from '../src/store.js';
import { tempDir } from './helpers.js';

function row(id: string, recordedAt: string, files: { heatmap?: string; image?: string } = {}): ResultRow {
  return {
    id,
    recordedAt,
    capturedAt: recordedAt,
    source: 'http',
    sourceName: null,
    partId: null,
    station: null,
    camera: null,
    verdict: 'anomalous',
    score: 0.3,
    normalizedScore: 0.7,
    threshold: 0.2,
    modelVersion: 1,
    modelName: 'm',
    modelSha256: 'x',
    latency: { total: 3 },
    error: null,
    heatmapFile: files.heatmap ?? null,
    imageFile: files.image ?? null,
    file: null,
  };
}

function putFile(store: ResultStore, relative: string, bytes: number): void {
  mkdirSync(join(store.filesDir, relative.split('/')[0]), { recursive: true });
  writeFileSync(join(store.filesDir, relative), Buffer.alloc(bytes, 1));
}

describe('ResultStore', () => {
  it('migrates to the current schema in WAL mode with synchronous FULL, and refuses a newer schema', async () => {
    const data = tempDir('store-schema');
    try {
      const store = new ResultStore(data.dir);
      expect(store.schemaVersion).toBe(1);
      expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(store.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      await store.close();
      const db = new Database(join(data.dir, 'results.sqlite'));
      db.pragma('user_version = 7');
      db.close();
      expect(() => new ResultStore(data.dir)).toThrow(/schema version 7, newer than this residuum/);
    } finally {
      data.remove();
    }
  });

  it('removes files no row points to (a crash between file write and commit), keeps the others', async () => {
    const data = tempDir('store-orphans');
    try {
      const store = new ResultStore(data.dir);
      putFile(store, '2026-01-01/A.heatmap.png', 10);
      putFile(store, '2026-01-01/B.heatmap.png', 10);
      await store.commit([row('A', '2026-01-01T00:00:00.000Z', { heatmap: '2026-01-01/A.heatmap.png' })]);
      expect(store.removeOrphanFiles()).toBe(1);
      expect(existsSync(join(store.filesDir, '2026-01-01/A.heatmap.png'))).toBe(true);
      expect(existsSync(join(store.filesDir, '2026-01-01/B.heatmap.png'))).toBe(false);
      await store.close();
    } finally {
      data.remove();
    }
  });

  it('retention removes files by age, then the oldest beyond the disk budget; rows stay', async () => {
    const data = tempDir('store-retention');
    try {
      const store = new ResultStore(data.dir);
      const now = Date.parse('2026-06-30T00:00:00Z');
      const days = ['2026-06-01', '2026-06-27', '2026-06-28', '2026-06-29'];
      for (const [i, day] of days.entries()) {
        putFile(store, `${day}/R${i}.heatmap.png`, 1000);
        putFile(store, `${day}/R${i}.image.jpg`, 1000);
        await store.commit([row(`R${i}`, `${day}T12:00:00.000Z`, { heatmap: `${day}/R${i}.heatmap.png`, image: `${day}/R${i}.image.jpg` })]);
      }
      expect(store.applyRetention({ maxAgeDays: 7 }, now)).toBe(2);
      expect(store.get('R0')).toMatchObject({ heatmapFile: null, imageFile: null, verdict: 'anomalous' });
      expect(existsSync(join(store.filesDir, '2026-06-01/R0.image.jpg'))).toBe(false);
      // 6,000 bytes left, budget 4,000: the oldest result's files go.
      expect(store.applyRetention({ diskBudgetBytes: 4000 }, now)).toBe(2);
      expect(store.get('R1')?.heatmapFile).toBeNull();
      expect(store.get('R2')?.heatmapFile).toBe('2026-06-28/R2.heatmap.png');
      expect(store.count()).toBe(4);
      await store.close();
    } finally {
      data.remove();
    }
  });
});

describe('ResultStore outbox hook', () => {
  it("a hook's statements commit in the result's transaction, and retention keeps files a destination has not received", async () => {
    const data = tempDir('store-outbox');
    try {
      const store = new ResultStore(data.dir);
      store.onResultCommit((r) => [
        {
          sql: 'INSERT INTO outbox (destination, kind, result_id, payload, created_at) VALUES (@destination, @kind, @resultId, @payload, @createdAt)',
          params: { destination: 'mqtt', kind: 'result', resultId: r.id, payload: JSON.stringify({ id: r.id }), createdAt: r.recordedAt },
        },
      ]);
      putFile(store, '2026-01-01/O1.heatmap.png', 1000);
      await store.commit([row('O1', '2026-01-01T00:00:00.000Z', { heatmap: '2026-01-01/O1.heatmap.png' })]);
      expect(store.db.prepare('SELECT result_id FROM outbox').all()).toEqual([{ result_id: 'O1' }]);
      // A failing hook statement rolls the result back too.
      store.onResultCommit(() => [{ sql: 'INSERT INTO outbox (destination) VALUES (@d)', params: { d: 'x' } }]);
      await expect(store.commit([row('O2', '2026-01-02T00:00:00.000Z')])).rejects.toThrow(/NOT NULL/);
      expect(store.get('O2')).toBeNull();
      expect(store.applyRetention({ maxAgeDays: 1 }, Date.parse('2026-06-01T00:00:00Z'))).toBe(0);
      store.db.prepare("UPDATE outbox SET delivered_at = '2026-01-01T00:00:01Z'").run();
      expect(store.applyRetention({ maxAgeDays: 1 }, Date.parse('2026-06-01T00:00:00Z'))).toBe(1);
      await store.close();
    } finally {
      data.remove();
    }
  });
});
