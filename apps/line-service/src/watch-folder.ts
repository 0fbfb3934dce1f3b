/**
 * The watch folder: each new image file is inspected exactly once, then moved to done/ (ok,
 * anomalous) or failed/ (error). Never deleted, never overwritten: a name that is taken gets a
 * suffix (part-7.png, part-7-1.png, ...).
 *
 * A file counts as complete when it appears under its final name (writers rename into place from
 * a dot-name or a .tmp / .part name, which are ignored) and, with a quiet period, when its size has
 * not changed for that long. Its identity (path, size, mtime, sha256) is committed with its result
 * in one transaction: after a crash between the commit and the move, the file is found in the
 * store at start and only moved, so it is neither lost nor inspected twice.
 */
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import type { LineMetrics } from './metrics.js';
import type { ImageMeta, InspectOutcome } from './pipeline.js';
import type { FileIdentity, ResultRow, ResultStore } from './store.js';

export interface WatchFolderOptions {
  dir: string;
  /** Milliseconds a file's size must stay the same before it is read; 0: rename-into-place only. */
  quietMs: number;
  station: string | null;
  camera: string | null;
}

/** Inspects one file's bytes (the service's admission: pixel limit, queue with back-pressure). */
export type InspectFile = (bytes: Uint8Array, meta: ImageMeta) => Promise<InspectOutcome>;

const IGNORED_NAME = /^\.|\.(tmp|part|partial|crdownload|swp)$|~$/i;

export class WatchFolder {
  private watcher: FSWatcher | null = null;
  private readonly busy = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  private stopped = false;
  readonly dir: string;
  readonly doneDir: string;
  readonly failedDir: string;

  constructor(
    private readonly options: WatchFolderOptions,
    private readonly store: ResultStore,
    private readonly inspect: InspectFile,
    private readonly metrics: LineMetrics,
    private readonly log: Logger,
  ) {
    this.dir = options.dir;
    this.doneDir = join(options.dir, 'done');
    this.failedDir = join(options.dir, 'failed');
  }

  async start(): Promise<void> {
    mkdirSync(this.doneDir, { recursive: true });
    mkdirSync(this.failedDir, { recursive: true });
    const { dir, quietMs } = this.options;
    this.watcher = watch(dir, {
      depth: 0,
      ignoreInitial: false,
      ignored: (path: string) => path !== dir && (IGNORED_NAME.test(basename(path)) || path === this.doneDir || path === this.failedDir),
      awaitWriteFinish: quietMs > 0 ? { stabilityThreshold: quietMs, pollInterval: Math.max(20, Math.min(100, Math.floor(quietMs / 2))) } : false,
    });
    this.watcher.on('add', (path) => this.track(path));
    this.watcher.on('error', (error) => this.log.error({ err: error }, 'watch folder error'));
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
  }

  /** Stops watching and waits for the files being handled. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.watcher?.close();
    await Promise.allSettled([...this.pending]);
  }

  private track(path: string): void {
    if (this.stopped || this.busy.has(path)) return;
    this.busy.add(path);
    const work = this.handle(path)
      .catch((error: unknown) => {
        this.metrics.watchFiles.inc({ outcome: 'left' });
        this.log.error({ err: error, path }, 'watch folder file left in place');
      })
      .finally(() => {
        this.busy.delete(path);
        this.pending.delete(work);
      });
    this.pending.add(work);
  }

  private async handle(path: string): Promise<void> {
    let stats;
    try {
      stats = statSync(path);
    } catch {
      return; // gone before we looked (moved away by its writer)
    }
    if (!stats.isFile()) return;
    const bytes = new Uint8Array(readFileSync(path));
    const identity: FileIdentity = {
      path,
      size: stats.size,
      mtimeMs: stats.mtimeMs,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
    const known = this.store.findByFile(identity);
    if (known) {
      // Committed before a crash, not yet moved: move it now, do not inspect it again.
      this.moveOut(path, known);
      this.metrics.watchFiles.inc({ outcome: 'recovered' });
      this.log.info({ path, id: known.id }, 'watch folder file already judged before a restart; moved');
      return;
    }
    if (this.stopped) return;
    const { row } = await this.inspect(bytes, {
      source: 'watch',
      sourceName: basename(path),
      partId: null,
      station: this.options.station,
      camera: this.options.camera,
      capturedAt: new Date(stats.mtimeMs).toISOString(),
      file: identity,
    });
    this.moveOut(path, row);
    this.metrics.watchFiles.inc({ outcome: row.verdict === 'error' ? 'failed' : 'done' });
  }

  private moveOut(path: string, row: ResultRow): string {
    const target = moveWithoutOverwrite(path, row.verdict === 'error' ? this.failedDir : this.doneDir);
    this.log.debug({ path, target, id: row.id, verdict: row.verdict }, 'watch folder file moved');
    return target;
  }
}

/** Moves a file into a folder under its name, or name-1, name-2, ... when taken; returns the new path. */
export function moveWithoutOverwrite(path: string, dir: string): string {
  const name = basename(path);
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let k = 0; ; k += 1) {
    const target = join(dir, k === 0 ? name : `${stem}-${k}${ext}`);
    try {
      linkSync(path, target); // fails with EEXIST instead of replacing
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw error;
    }
    unlinkSync(path);
    return target;
  }
}
