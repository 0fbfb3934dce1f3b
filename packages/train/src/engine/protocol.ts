import type { BackendRequest } from '../backend/index.js';
import type { OptimizerState } from './adam-state.js';
import type { AdamSettings, BatchShape, NamedWeight, TrainableFactory } from './replica.js';

export interface WorkerInit {
  backend: BackendRequest;
  factory: TrainableFactory;
  optimizer: AdamSettings;
}

export type WorkerRequest =
  | { id: number; type: 'gradients'; inputs: Float32Array; targets: Float32Array; shape: BatchShape }
  | { id: number; type: 'apply'; gradients: Float32Array[] }
  | { id: number; type: 'weights' }
  | { id: number; type: 'setWeights'; weights: NamedWeight[] }
  | { id: number; type: 'learningRate'; value: number }
  | { id: number; type: 'optimizerState' }
  | { id: number; type: 'setOptimizerState'; state: OptimizerState };

/** A request before the handle numbers it (Omit over a union would merge its members). */
export type WorkerRequestBody = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

export type WorkerReply =
  | { id: number; type: 'ready'; backend: string }
  | { id: number; type: 'gradients'; loss: number; gradients: Float32Array[] }
  | { id: number; type: 'done' }
  | { id: number; type: 'weights'; weights: NamedWeight[]; trainable: boolean[] }
  | { id: number; type: 'optimizerState'; state: OptimizerState }
  | { id: number; type: 'error'; message: string };
