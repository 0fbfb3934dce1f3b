/**
 * onnxruntime-node on its own worker thread. onnxruntime-node's `session.run` computes on the
 * calling thread (its promise only defers the call with setImmediate), so on the main thread
 * inference and the JS around it (preprocessing, SSIM scoring) take turns. With the session on a
 * worker, the main thread preprocesses and scores neighbouring batches while a batch infers, and
 * sharp decodes on libuv's threads: three stages at once instead of one after the other.
 *
 * The worker is a small CommonJS script (inline, so it runs the same from TypeScript sources,
 * tests and the built package) that loads the same onnxruntime-node the package resolves.
 * Feeds are transferred to it and outputs transferred back (no copies). The worker is unref'd
 * while idle, so a forgotten dispose() does not keep the process alive.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import type { ModelFeeds, ModelOutputs } from '@residuum/inspection';

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
if (workerData.logLevel) ort.env.logLevel = workerData.logLevel;
let session = null;
parentPort.on('message', async (message) => {
  const id = message.id;
  try {
    if (message.type === 'create') {
      session = await ort.InferenceSession.create(message.model, message.options);
      parentPort.postMessage({ id, ok: true });
    } else if (message.type === 'run') {
      if (!session) throw new Error('no session');
      const feeds = {};
      for (const name of Object.keys(message.feeds)) {
        const feed = message.feeds[name];
        feeds[name] = new ort.Tensor('float32', feed.data, feed.dims);
      }
      const results = await session.run(feeds);
      const outputs = {};
      const transfer = [];
      for (const name of Object.keys(results)) {
        const tensor = results[name];
        outputs[name] = { type: tensor.type, data: tensor.data, dims: Array.from(tensor.dims) };
        const buffer = tensor.data && tensor.data.buffer;
        if (buffer instanceof ArrayBuffer && !transfer.includes(buffer)) transfer.push(buffer);
      }
      parentPort.postMessage({ id, ok: true, outputs }, transfer);
    } else if (message.type === 'release') {
      if (session) await session.release();
      session = null;
      parentPort.postMessage({ id, ok: true });
    }
  } catch (error) {
    parentPort.postMessage({ id, ok: false, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  outputs?: Record<string, { type: string; data: Float32Array; dims: number[] }>;
}

/** One onnxruntime-node session living on a worker thread. */
export class WorkerSession {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor(logLevel?: string) {
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath, logLevel } });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      waiter.resolve(reply);
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const waiter of this.pending.values()) waiter.reject(this.failure);
      this.pending.clear();
    };
    this.worker.on('error', (error) => fail(new Error(`the inference worker failed: ${error.message}`)));
    this.worker.on('exit', (code) => fail(new Error(`the inference worker exited (code ${code})`)));
  }

  private call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Creates the session in the worker; throws onnxruntime's message when it cannot. */
  async create(model: Uint8Array, options: InferenceSession.SessionOptions): Promise<void> {
    const reply = await this.call({ type: 'create', model, options });
    if (!reply.ok) throw new Error(reply.error);
  }

  /**
   * Runs the session. The feeds' buffers are transferred to the worker (the caller must not use
   * them afterwards; the inspector core builds fresh ones per run); a feed that is a view into a
   * larger buffer is copied instead.
   */
  async run(feeds: ModelFeeds): Promise<ModelOutputs> {
    const message: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, tensor] of Object.entries(feeds)) {
      let data = tensor.data;
      const buffer = data.buffer;
      if (!(buffer instanceof ArrayBuffer) || data.byteOffset !== 0 || data.byteLength !== buffer.byteLength || transfer.includes(buffer)) {
        data = data.slice();
      }
      transfer.push(data.buffer as ArrayBuffer);
      message[name] = { data, dims: tensor.dims };
    }
    const reply = await this.call({ type: 'run', feeds: message }, transfer);
    if (!reply.ok) throw new Error(reply.error);
    const outputs: ModelOutputs = {};
    for (const [name, tensor] of Object.entries(reply.outputs ?? {})) {
      if (tensor.type !== 'float32') throw new TypeError(`output '${name}' is ${tensor.type}, expected float32`);
      outputs[name] = { data: tensor.data, dims: tensor.dims };
    }
    return outputs;
  }

  /** Releases the session (if any) and stops the worker. */
  async release(): Promise<void> {
    try {
      if (!this.failure) await this.call({ type: 'release' });
    } finally {
      this.failure ??= new Error('the inference worker was released');
      await this.worker.terminate();
    }
  }
}
