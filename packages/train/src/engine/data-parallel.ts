import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BACKEND_REQUESTS, initBackend, type BackendRequest } from '../backend/index.js';
import { checkOptimizerShape, type OptimizerState } from './adam-state.js';
import type { WorkerInit, WorkerReply, WorkerRequestBody } from './protocol.js';
import { checkAdam, checkBatch, checkLearningRate, loadTrainable, Replica, type AdamSettings, type BatchShape, type NamedWeight, type TrainableFactory } from './replica.js';

export interface TrainingEngine {
  /** One optimisation step on the whole batch (NHWC float32); resolves with the mean loss over the batch. */
  trainBatch(inputs: Float32Array, targets: Float32Array, shape: BatchShape): Promise<{ loss: number }>;
  /** Model weights in model.weights order, including non-trainable ones (BN moving statistics). */
  getWeights(): Promise<NamedWeight[]>;
  setLearningRate(learningRate: number): Promise<void>;
  /** Replaces the model weights (matched by name, e.g. to resume); the optimizer state is kept. */
  setWeights(weights: NamedWeight[]): Promise<void>;
  /**
   * Adam's iteration count and moments by model weight name (for checkpoints): every engine exports the
   * same form, so a state saved from one engine can be imported into another.
   */
  getOptimizerState(): Promise<OptimizerState>;
  /** Replaces Adam's iteration count and moments (e.g. to resume); checked against the model first. */
  setOptimizerState(state: OptimizerState): Promise<void>;
  dispose(): Promise<void>;
  /** Threads computing gradients: 0 for the main-thread engine. */
  readonly workers: number;
}

export interface DataParallelEngine extends TrainingEngine {
  /** Every replica's weights (diagnostics: trainable weights must be identical across replicas). */
  replicaWeights(): Promise<NamedWeight[][]>;
}

export interface EngineOptions {
  factory: TrainableFactory;
  optimizer: AdamSettings;
  /** Backend of each replica; 'auto' picks like initBackend('auto'). */
  backend: BackendRequest;
}

export interface DataParallelOptions extends EngineOptions {
  workers: number;
}

function checkEngineOptions(options: EngineOptions): void {
  if (!BACKEND_REQUESTS.includes(options?.backend)) {
    throw new Error(`engine: backend must be one of ${BACKEND_REQUESTS.join(', ')}, got ${JSON.stringify(options?.backend)}`);
  }
  checkAdam(options.optimizer);
}

/** Runs the replica in the calling thread: the reference for the data-parallel engine, and the 1-core option. */
export async function createLocalEngine(options: EngineOptions): Promise<TrainingEngine> {
  checkEngineOptions(options);
  await initBackend(options.backend);
  const replica = new Replica(await loadTrainable(options.factory), options.optimizer);
  return {
    workers: 0,
    async trainBatch(inputs, targets, shape) {
      checkBatch(inputs, targets, shape);
      const { loss, gradients } = replica.computeGradients(inputs, targets, shape);
      replica.applyGradients(gradients);
      return { loss };
    },
    async getWeights() {
      return replica.getWeights().weights;
    },
    async setLearningRate(learningRate) {
      replica.setLearningRate(learningRate);
    },
    async setWeights(weights) {
      replica.setWeights(weights);
    },
    getOptimizerState() {
      return replica.getOptimizerState();
    },
    setOptimizerState(state) {
      return replica.setOptimizerState(state);
    },
    async dispose() {
      replica.dispose();
    },
  };
}

interface Pending {
  resolve(reply: WorkerReply): void;
  reject(error: Error): void;
}

class WorkerHandle {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | null = null;
  readonly ready: Promise<string>;

  constructor(readonly worker: Worker, readonly index: number) {
    this.ready = new Promise((resolve, reject) => this.pending.set(0, {
      resolve: (reply) => (reply.type === 'ready' ? resolve(reply.backend) : reject(new Error(`worker ${index}: unexpected reply ${reply.type}`))),
      reject,
    }));
    worker.on('message', (reply: WorkerReply) => {
      const waiter = this.pending.get(reply.id);
      if (waiter === undefined) return;
      this.pending.delete(reply.id);
      if (reply.type === 'error') waiter.reject(new Error(`engine worker ${index}: ${reply.message}`));
      else waiter.resolve(reply);
    });
    const fail = (error: Error): void => {
      this.failure = error;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    worker.on('error', (error) => fail(new Error(`engine worker ${index} crashed: ${error.message}`)));
    worker.on('exit', (code) => fail(new Error(`engine worker ${index} exited (code ${code})`)));
  }

  request(message: WorkerRequestBody, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }
}

/**
 * How to start a worker. From built dist/ it is plain worker.js. From TypeScript sources (vitest, tsx) the
 * worker registers tsx's ESM hooks first: Node 20 ignores `--import tsx` in a worker's execArgv; the
 * '@residuum/source' condition makes workspace packages resolve to their sources as in the parent.
 */
function workerLaunch(factoryModuleUrl: string): { script: string | URL; eval: boolean; execArgv: string[] } {
  const fromSources = import.meta.url.endsWith('.ts');
  const workerUrl = new URL(fromSources ? './worker.ts' : './worker.js', import.meta.url);
  if (!fromSources && !/\.[cm]?ts$/.test(factoryModuleUrl)) return { script: workerUrl, eval: false, execArgv: [] };
  let tsxApi: string;
  try {
    tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  } catch (error) {
    throw new Error(`engine: running TypeScript in workers needs the 'tsx' package: ${error instanceof Error ? error.message : String(error)}`);
  }
  const script = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return { script, eval: true, execArgv: fromSources ? ['--conditions=@residuum/source'] : [] };
}

/**
 * Data-parallel training on `workers` threads, each with its own single-threaded wasm (or native) backend.
 * Each step splits the batch into contiguous shards, every worker computes the gradients of its shard's mean
 * loss, the main thread averages them weighted by shard size and sends the average back, and every worker
 * applies the same Adam update, so the trainable weights stay identical. Replica 0's initial weights are
 * copied to the others, so the factory need not be seeded for the replicas to agree.
 *
 * Batch normalisation: each worker normalises with its own shard's batch statistics (like per-GPU BN), so a
 * step with BN is not bit-equal to a full-batch step; without batch statistics it is (to float rounding).
 * Moving means/variances are kept per replica and getWeights() returns their average weighted by the samples
 * each replica has seen.
 */
export async function createDataParallelEngine(options: DataParallelOptions): Promise<DataParallelEngine> {
  checkEngineOptions(options);
  if (!Number.isInteger(options.workers) || options.workers < 1) {
    throw new Error(`createDataParallelEngine: workers must be a positive integer, got ${options.workers}`);
  }
  const launch = workerLaunch(options.factory.moduleUrl);
  const init: WorkerInit = { backend: options.backend, factory: options.factory, optimizer: options.optimizer };
  const handles = Array.from({ length: options.workers }, (_, i) => new WorkerHandle(new Worker(launch.script, { eval: launch.eval, execArgv: launch.execArgv, workerData: init }), i));
  const samplesSeen = new Array<number>(handles.length).fill(0);

  const terminate = async (): Promise<void> => {
    await Promise.all(handles.map((h) => h.worker.terminate()));
  };
  try {
    await Promise.all(handles.map((h) => h.ready));
    if (handles.length > 1) {
      const first = (await handles[0].request({ type: 'weights' })) as Extract<WorkerReply, { type: 'weights' }>;
      await Promise.all(handles.slice(1).map((h) => h.request({ type: 'setWeights', weights: first.weights })));
    }
  } catch (error) {
    await terminate();
    throw error;
  }

  const allWeights = async (): Promise<Array<Extract<WorkerReply, { type: 'weights' }>>> =>
    (await Promise.all(handles.map((h) => h.request({ type: 'weights' })))) as Array<Extract<WorkerReply, { type: 'weights' }>>;

  let disposed = false;
  const alive = (): void => {
    if (disposed) throw new Error('engine: used after dispose()');
  };

  return {
    workers: handles.length,
    async trainBatch(inputs, targets, shape) {
      alive();
      checkBatch(inputs, targets, shape);
      const [n, h, w, c] = shape;
      const imageSize = h * w * c;
      const active = Math.min(handles.length, n);
      const shards: Array<{ handle: WorkerHandle; count: number; reply: Promise<WorkerReply> }> = [];
      let start = 0;
      for (let k = 0; k < active; k++) {
        const count = Math.floor(n / active) + (k < n % active ? 1 : 0);
        const shardInputs = inputs.slice(start * imageSize, (start + count) * imageSize);
        const shardTargets = targets.slice(start * imageSize, (start + count) * imageSize);
        const reply = handles[k].request(
          { type: 'gradients', inputs: shardInputs, targets: shardTargets, shape: [count, h, w, c] },
          [shardInputs.buffer, shardTargets.buffer],
        );
        shards.push({ handle: handles[k], count, reply });
        samplesSeen[k] += count;
        start += count;
      }
      const replies = (await Promise.all(shards.map((s) => s.reply))) as Array<Extract<WorkerReply, { type: 'gradients' }>>;
      let loss = 0;
      const averaged = replies[0].gradients.map((g) => new Float32Array(g.length));
      replies.forEach((reply, k) => {
        const weight = shards[k].count / n;
        loss += reply.loss * weight;
        reply.gradients.forEach((g, i) => {
          const sum = averaged[i];
          for (let j = 0; j < g.length; j++) sum[j] += g[j] * weight;
        });
      });
      await Promise.all(handles.map((handle) => handle.request({ type: 'apply', gradients: averaged })));
      return { loss };
    },
    async getWeights() {
      alive();
      const replicas = await allWeights();
      const total = samplesSeen.reduce((a, b) => a + b, 0);
      return replicas[0].weights.map((weight, i) => {
        if (replicas[0].trainable[i] || total === 0) return weight;
        const data = new Float32Array(weight.data.length);
        replicas.forEach((replica, k) => {
          const share = samplesSeen[k] / total;
          const values = replica.weights[i].data;
          for (let j = 0; j < data.length; j++) data[j] += values[j] * share;
        });
        return { ...weight, data };
      });
    },
    async setWeights(weights) {
      alive();
      await Promise.all(handles.map((handle) => handle.request({ type: 'setWeights', weights })));
    },
    async getOptimizerState() {
      alive();
      // Every replica applied the same averaged gradients, so replica 0's state is every replica's.
      const reply = (await handles[0].request({ type: 'optimizerState' })) as Extract<WorkerReply, { type: 'optimizerState' }>;
      return reply.state;
    },
    async setOptimizerState(state) {
      alive();
      checkOptimizerShape(state);
      await Promise.all(handles.map((handle) => handle.request({ type: 'setOptimizerState', state })));
    },
    async replicaWeights() {
      alive();
      return (await allWeights()).map((r) => r.weights);
    },
    async setLearningRate(learningRate) {
      alive();
      checkLearningRate(learningRate);
      await Promise.all(handles.map((handle) => handle.request({ type: 'learningRate', value: learningRate })));
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await terminate();
    },
  };
}

/**
 * Default number of gradient workers: one per core, at most 2 (see bench-results/train-throughput.json:
 * wasm is single-threaded in Node, so each worker keeps one core busy; beyond the core count they only
 * compete). 0 means "train on the main thread" (a machine with one core).
 */
export function recommendedWorkerCount(): number {
  const cores = availableParallelism();
  return cores >= 2 ? Math.min(2, cores) : 0;
}

export interface TrainingEngineOptions extends EngineOptions {
  /** 'auto' = recommendedWorkerCount(); 0 = main thread. */
  workers: number | 'auto';
}

/** The engine the training loop should use: data-parallel workers, or the main thread for workers = 0. */
export async function createTrainingEngine(options: TrainingEngineOptions): Promise<TrainingEngine> {
  const workers = options.workers === 'auto' ? recommendedWorkerCount() : options.workers;
  if (!Number.isInteger(workers) || workers < 0) {
    throw new Error(`createTrainingEngine: workers must be 'auto' or an integer >= 0, got ${JSON.stringify(options.workers)}`);
  }
  return workers === 0 ? createLocalEngine(options) : createDataParallelEngine({ ...options, workers });
}
