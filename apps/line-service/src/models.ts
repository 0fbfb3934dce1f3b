/**
 * Versioned models with hot swap. Every model the service has served is a numbered version in
 * `<data>/models/` (v<N>.onnx, the bytes as given) and a row in the store. A candidate is
 * validated before it can serve: its card is read and checked against the graph, a session is
 * created and a warm-up inference runs. Only then does it become the active model; batches
 * already running keep the inspector they started with, and the old inspector is disposed when
 * its last batch finishes. A bad candidate is refused with the reason and the old model keeps
 * serving.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeInspector, type NodeInspector, type NodeProviderRequest } from '@residuum/runtime-node';
import type { ModelVersionRow, ResultStore } from './store.js';

export interface ActiveModel {
  version: number;
  name: string;
  family: string;
  sha256: string;
  threshold: number;
  inspector: NodeInspector;
}

export interface ModelInfo {
  version: number;
  name: string;
  family: string;
  sha256: string;
  threshold: number;
  addedAt: string;
  activatedAt: string | null;
  active: boolean;
}

/** A model that failed validation; the message says why. */
export class ModelRejectedError extends Error {
  override readonly name = 'ModelRejectedError';
}

export interface ModelRegistryOptions {
  provider: NodeProviderRequest;
  batchSize: number;
  threads?: number;
}

interface Lease {
  model: ActiveModel;
  users: number;
  retired: boolean;
}

export class ModelRegistry {
  readonly dir: string;
  private current: Lease | null = null;
  private swapping: Promise<unknown> = Promise.resolve();
  private readonly listeners: Array<(model: ActiveModel) => void> = [];

  constructor(
    private readonly store: ResultStore,
    dataDir: string,
    private readonly options: ModelRegistryOptions,
  ) {
    this.dir = join(dataDir, 'models');
    mkdirSync(this.dir, { recursive: true });
  }

  get active(): ActiveModel | null {
    return this.current?.model ?? null;
  }

  onActivate(listener: (model: ActiveModel) => void): void {
    this.listeners.push(listener);
  }

  list(): ModelInfo[] {
    const active = this.current?.model.version;
    return this.store.listModels().map((row) => ({
      version: row.version,
      name: row.name,
      family: row.family,
      sha256: row.sha256,
      threshold: row.threshold,
      addedAt: row.addedAt,
      activatedAt: row.activatedAt,
      active: row.version === active,
    }));
  }

  /**
   * Validates model bytes, keeps them as a new version (or finds the version with the same
   * sha256) and, with `activate`, makes it the active model. Swaps are serialized.
   */
  async add(bytes: Uint8Array, label: string, activate: boolean): Promise<ModelInfo> {
    return this.serialized(async () => {
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const inspector = await this.validate(bytes, label);
      let row = this.store.modelBySha(sha256);
      if (!row) {
        const version = this.store.nextModelVersion();
        const file = `v${version}.onnx`;
        const tmp = join(this.dir, `.${file}.tmp`);
        writeFileSync(tmp, bytes, { flush: true });
        renameSync(tmp, join(this.dir, file));
        this.store.addModel({
          version,
          sha256,
          name: inspector.card.name,
          family: inspector.card.family,
          threshold: inspector.card.threshold.value,
          file,
          addedAt: new Date().toISOString(),
        });
        row = this.store.model(version)!;
      }
      if (activate) this.install(row, inspector);
      else await inspector.dispose();
      return this.info(row.version);
    });
  }

  /** Activates a stored version (validated again: its file could have changed on disk). */
  async activate(version: number): Promise<ModelInfo> {
    return this.serialized(async () => {
      const row = this.store.model(version);
      if (!row) throw new ModelRejectedError(`model version ${version} does not exist`);
      const path = join(this.dir, row.file);
      if (!existsSync(path)) throw new ModelRejectedError(`model version ${version}: its file ${path} is missing`);
      const bytes = new Uint8Array(readFileSync(path));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (sha256 !== row.sha256) throw new ModelRejectedError(`model version ${version}: ${path} changed on disk (sha256 ${sha256}, stored ${row.sha256})`);
      this.install(row, await this.validate(bytes, `version ${version}`));
      return this.info(version);
    });
  }

  /** Runs work with the active model; the model is not disposed before the work ends. */
  async withModel<T>(work: (model: ActiveModel) => Promise<T>): Promise<T> {
    const lease = this.current;
    if (!lease) throw new Error('no model is active');
    lease.users += 1;
    try {
      return await work(lease.model);
    } finally {
      lease.users -= 1;
      if (lease.retired && lease.users === 0) await lease.model.inspector.dispose();
    }
  }

  async close(): Promise<void> {
    await this.swapping.catch(() => undefined);
    const lease = this.current;
    this.current = null;
    if (lease) {
      lease.retired = true;
      if (lease.users === 0) await lease.model.inspector.dispose();
    }
  }

  private info(version: number): ModelInfo {
    return this.list().find((model) => model.version === version)!;
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.swapping.catch(() => undefined).then(work);
    this.swapping = next;
    return next;
  }

  /** Card, graph, session and one warm-up inference; a ModelRejectedError with the reason otherwise. */
  private async validate(bytes: Uint8Array, label: string): Promise<NodeInspector> {
    try {
      return await createNodeInspector(bytes, {
        provider: this.options.provider,
        batchSize: this.options.batchSize,
        // the pipeline batches whatever waits: 1 to batchSize images per run
        variableBatches: true,
        threads: this.options.threads,
        warmup: true,
        logLevel: 'fatal',
      });
    } catch (error) {
      throw new ModelRejectedError(`model ${label} refused: ${(error as Error).message.split('\n')[0]}`, { cause: error });
    }
  }

  private install(row: ModelVersionRow, inspector: NodeInspector): void {
    const model: ActiveModel = {
      version: row.version,
      name: row.name,
      family: row.family,
      sha256: row.sha256,
      threshold: inspector.card.threshold.value,
      inspector,
    };
    const previous = this.current;
    this.current = { model, users: 0, retired: false };
    this.store.markActivated(row.version, new Date().toISOString());
    if (previous) {
      previous.retired = true;
      if (previous.users === 0) void previous.model.inspector.dispose();
    }
    for (const listener of this.listeners) listener(model);
  }
}
