/**
 * Worker thread of the data-parallel engine: one model replica on its own wasm instance (one core).
 * Requests are handled strictly in arrival order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend/index.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './protocol.js';
import { loadTrainable, Replica } from './replica.js';

const port = parentPort;
if (port === null) throw new Error('engine/worker must run in a worker thread');

function send(reply: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

const init = workerData as WorkerInit;
const ready: Promise<Replica> = (async () => {
  const selection = await initBackend(init.backend);
  const replica = new Replica(await loadTrainable(init.factory), init.optimizer);
  send({ id: 0, type: 'ready', backend: selection.backend });
  return replica;
})();
ready.catch((error: unknown) => send({ id: 0, type: 'error', message: error instanceof Error ? error.message : String(error) }));

let queue: Promise<void> = Promise.resolve();

async function handle(replica: Replica, request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case 'gradients': {
      const { loss, gradients } = replica.computeGradients(request.inputs, request.targets, request.shape);
      send({ id: request.id, type: 'gradients', loss, gradients }, gradients.map((g) => g.buffer as ArrayBuffer));
      return;
    }
    case 'apply':
      replica.applyGradients(request.gradients);
      send({ id: request.id, type: 'done' });
      return;
    case 'weights': {
      const { weights, trainable } = replica.getWeights();
      send({ id: request.id, type: 'weights', weights, trainable }, weights.map((w) => w.data.buffer as ArrayBuffer));
      return;
    }
    case 'setWeights':
      replica.setWeights(request.weights);
      send({ id: request.id, type: 'done' });
      return;
    case 'learningRate':
      replica.setLearningRate(request.value);
      send({ id: request.id, type: 'done' });
      return;
    case 'optimizerState': {
      const state = await replica.getOptimizerState();
      send({ id: request.id, type: 'optimizerState', state }, state.slots.map((s) => s.data.buffer as ArrayBuffer));
      return;
    }
    case 'setOptimizerState':
      await replica.setOptimizerState(request.state);
      send({ id: request.id, type: 'done' });
      return;
  }
}

port.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    try {
      await handle(await ready, request);
    } catch (error) {
      send({ id: request.id, type: 'error', message: error instanceof Error ? error.message : String(error) });
    }
  });
});
