/**
 * The watch folder (each file inspected exactly once, only when complete, moved to done/ or
 * failed/ with a suffix on clashes) and kill -9 during load: after a restart every result
 * acknowledged to a client is in the store, and the watch folder resumes without loss or duplicates.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ResultStore } from '../src/store.js';
import { postImage, samples, startTestService, tempDir, waitFor } from './helpers.js';

const child = fileURLToPath(new URL('./fixtures/serve-child.ts', import.meta.url));

function startChild(options: Record<string, unknown>): Promise<{ process: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ['--conditions=@residuum/source', '--import', 'tsx', child, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\S+)/.exec(out);
      if (match) resolve({ process: proc, url: match[1] });
    });
    proc.once('exit', (code) => reject(new Error(`service exited with ${code} before it was ready`)));
  });
}

function writeIntoPlace(dir: string, name: string, bytes: Uint8Array): void {
  writeFileSync(join(dir, `.${name}.tmp`), bytes);
  renameSync(join(dir, `.${name}.tmp`), join(dir, name));
}

describe('watch folder', () => {
  it('inspects each complete file once, moves it to done/ or failed/ with a suffix on clashes, stores its identity', async () => {
    const data = tempDir('watch');
    const watch = join(data.dir, 'in');
    mkdirSync(join(watch, 'done'), { recursive: true });
    writeFileSync(join(watch, 'done', 'a.jpeg'), 'an older file of the same name');
    const service = await startTestService(data.dir, { watchDir: watch, quietMs: 300, station: 'st-9' });
    try {
      writeIntoPlace(watch, 'a.jpeg', samples[0].bytes);
      writeIntoPlace(watch, 'broken.png', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
      // A slow writer: half now, the rest later; the quiet period keeps it from being read half-written.
      const slow = openSync(join(watch, 'slow.jpeg'), 'w');
      writeSync(slow, samples[1].bytes.subarray(0, 2000));
      await new Promise((resolve) => setTimeout(resolve, 150));
      writeSync(slow, samples[1].bytes.subarray(2000));
      closeSync(slow);
      writeFileSync(join(watch, 'ignored.part'), 'being written');

      await waitFor(() => service.store.count() === 3, 20_000, 'three watch results');
      await waitFor(() => readdirSync(watch).filter((n) => !['done', 'failed', 'ignored.part'].includes(n)).length === 0, 5_000, 'files moved out');
      expect(readdirSync(join(watch, 'done')).sort()).toEqual(['a-1.jpeg', 'a.jpeg', 'slow.jpeg']);
      expect(readFileSync(join(watch, 'done', 'a.jpeg'), 'utf8')).toBe('an older file of the same name');
      expect(readdirSync(join(watch, 'failed'))).toEqual(['broken.png']);
      expect(existsSync(join(watch, 'ignored.part'))).toBe(true);

      const rows = service.store.query({ limit: 10 });
      const slowRow = rows.find((r) => r.sourceName === 'slow.jpeg')!;
      expect(slowRow.verdict).toBe('ok'); // read complete, not truncated
      expect(slowRow.station).toBe('st-9');
      expect(slowRow.file).toMatchObject({ path: join(watch, 'slow.jpeg'), size: samples[1].bytes.length, sha256: createHash('sha256').update(samples[1].bytes).digest('hex') });
      expect(rows.find((r) => r.sourceName === 'broken.png')!.verdict).toBe('error');
    } finally {
      await service.close();
      data.remove();
    }
  });

  it('a file committed before a crash but not yet moved is moved at start, not inspected again', async () => {
    const data = tempDir('recover');
    const watch = join(data.dir, 'in');
    mkdirSync(watch, { recursive: true });
    writeFileSync(join(watch, 'judged.jpeg'), samples[2].bytes);
    const stats = statSync(join(watch, 'judged.jpeg'));
    const store = new ResultStore(data.dir);
    await store.commit([
      {
        id: '01JZZZZZZZZZZZZZZZZZZZZZZZ',
        recordedAt: new Date().toISOString(),
        capturedAt: new Date().toISOString(),
        source: 'watch',
        sourceName: 'judged.jpeg',
        partId: null,
        station: null,
        camera: null,
        verdict: 'ok',
        score: 0.05,
        normalizedScore: 0.1,
        threshold: 0.16,
        modelVersion: 1,
        modelName: 'm',
        modelSha256: 'x',
        latency: {},
        error: null,
        heatmapFile: null,
        imageFile: null,
        file: { path: join(watch, 'judged.jpeg'), size: stats.size, mtimeMs: stats.mtimeMs, sha256: createHash('sha256').update(samples[2].bytes).digest('hex') },
      },
    ]);
    await store.close();
    const service = await startTestService(data.dir, { watchDir: watch, quietMs: 100 });
    try {
      await waitFor(() => existsSync(join(watch, 'done', 'judged.jpeg')), 10_000, 'the judged file to be moved');
      expect(service.store.count()).toBe(1);
    } finally {
      await service.close();
      data.remove();
    }
  });
});

describe('kill -9 during load', () => {
  it('every acknowledged result survives; the watch folder resumes without loss or duplicates', async () => {
    const data = tempDir('crash');
    const watch = join(data.dir, 'in');
    mkdirSync(watch, { recursive: true });
    const options = { dataDir: data.dir, watchDir: watch, quietMs: 0 };
    let service = await startChild(options);
    const acknowledged: string[] = [];
    let dropped = 0;
    let stop = false;
    const clients = Array.from({ length: 8 }, async (_, c) => {
      for (let i = 0; !stop; i += 1) {
        try {
          const { status, body } = await postImage(service.url, samples[(c + i) % samples.length].bytes, { query: `?partId=crash-${c}-${i}` });
          if (status === 200) acknowledged.push(body.id as string);
        } catch {
          return; // the connection died with the process: not acknowledged
        }
      }
    });
    const feeder = (async () => {
      while (!stop && dropped < 120) {
        writeIntoPlace(watch, `w-${dropped}.jpeg`, samples[dropped % samples.length].bytes);
        dropped += 1;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    await waitFor(() => acknowledged.length >= 80 && dropped >= 50, 30_000, 'load before the kill');
    const exited = new Promise((resolve) => service.process.once('exit', resolve));
    service.process.kill('SIGKILL');
    stop = true;
    await Promise.all([...clients, feeder, exited]);
    const ackedBeforeKill = acknowledged.length;

    service = await startChild(options);
    try {
      const pending = () => readdirSync(watch).filter((n) => n.endsWith('.jpeg'));
      await waitFor(() => pending().length === 0, 60_000, 'the watch folder to be worked off');
      const moved = readdirSync(join(watch, 'done')).length + readdirSync(join(watch, 'failed')).length;
      const db = new Database(join(data.dir, 'results.sqlite'), { readonly: true });
      try {
        const ids = new Set((db.prepare("SELECT id FROM results WHERE source = 'http'").all() as Array<{ id: string }>).map((r) => r.id));
        const missing = acknowledged.filter((id) => !ids.has(id));
        const watchRows = db.prepare("SELECT file_path, count(*) AS n FROM results WHERE source = 'watch' GROUP BY file_path").all() as Array<{ file_path: string; n: number }>;
        console.log(`crash: ${ackedBeforeKill} acknowledged before kill -9, ${missing.length} missing after restart; ${dropped} watch files, ${watchRows.length} watch results, ${moved} moved`);
        expect(missing).toEqual([]);
        expect(watchRows.length).toBe(dropped);
        expect(watchRows.filter((r) => r.n !== 1)).toEqual([]);
        expect(moved).toBe(dropped);
      } finally {
        db.close();
      }
    } finally {
      service.process.kill('SIGTERM');
      await new Promise((resolve) => service.process.once('exit', resolve));
      data.remove();
    }
  });
});
