/**
 * Model activation by dropping a file: an .onnx written into `<data>/models/incoming/` is
 * validated and, when good, becomes a new active version; the dropped file is then moved to
 * incoming/accepted/. A refused file is moved to incoming/rejected/ with `<name>.reason.txt`
 * beside it, and the old model keeps serving.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import type { ModelRegistry } from './models.js';
import { moveWithoutOverwrite } from './watch-folder.js';

export class ModelDropFolder {
  readonly dir: string;
  private watcher: FSWatcher | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly log: Logger,
    private readonly quietMs: number,
  ) {
    this.dir = join(registry.dir, 'incoming');
  }

  async start(): Promise<void> {
    for (const sub of ['', 'accepted', 'rejected']) mkdirSync(join(this.dir, sub), { recursive: true });
    this.watcher = watch(this.dir, {
      depth: 0,
      ignoreInitial: false,
      ignored: (path: string, stats) => path !== this.dir && (stats?.isDirectory() === true || basename(path).startsWith('.') || (stats?.isFile() === true && !/\.onnx$/i.test(path))),
      awaitWriteFinish: { stabilityThreshold: this.quietMs, pollInterval: Math.max(20, Math.min(100, Math.floor(this.quietMs / 2))) },
    });
    this.watcher.on('add', (path) => {
      if (!/\.onnx$/i.test(path)) return;
      this.chain = this.chain.then(() => this.handle(path));
    });
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
  }

  async stop(): Promise<void> {
    await this.watcher?.close();
    await this.chain;
  }

  private async handle(path: string): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch {
      return;
    }
    try {
      const model = await this.registry.add(bytes, basename(path), true);
      moveWithoutOverwrite(path, join(this.dir, 'accepted'));
      this.log.info({ file: basename(path), version: model.version, sha256: model.sha256 }, 'dropped model activated');
    } catch (error) {
      const reason = (error as Error).message;
      const target = moveWithoutOverwrite(path, join(this.dir, 'rejected'));
      writeFileSync(`${target}.reason.txt`, reason + '\n');
      this.log.error({ file: basename(path), reason }, 'dropped model refused; the active model keeps serving');
    }
  }
}
