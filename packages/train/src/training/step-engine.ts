import * as tf from '@tensorflow/tfjs';
import { exportAdamState, importAdamState, optimizedWeights, type OptimizedWeight, type OptimizerState } from '../engine/adam-state.js';
import type { Trainable } from '../families/autoencoder/trainable.js';

export type { OptimizerState } from '../engine/adam-state.js';

/** One named weight as plain data (model weights incl. BN moving statistics, or optimizer slots). */
export interface NamedWeight {
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * What the training loop steps through. The in-thread engine below and the data-parallel
 * worker engine (src/engine) implement it; weights are listed in `model.weights` order.
 */
export interface StepEngine {
  /** One optimizer step on an NHWC batch; resolves with the batch loss before the update. */
  trainBatch(inputs: Float32Array, targets: Float32Array, shape: [number, number, number, number]): Promise<{ loss: number }>;
  getWeights(): Promise<NamedWeight[]>;
  setLearningRate(learningRate: number): void | Promise<void>;
  dispose(): void | Promise<void>;
  /** Replaces the model weights (needed to resume). */
  setWeights?(weights: NamedWeight[]): Promise<void>;
  /**
   * Adam's iteration count and moments by model weight name, for checkpoints. Both engines export the same
   * form, so a checkpoint of one resumes in the other; engines without it restart Adam on resume.
   */
  getOptimizerState?(): Promise<OptimizerState>;
  /** Replaces Adam's state (checked against the model first: a state of another model is an error). */
  setOptimizerState?(state: OptimizerState): Promise<void>;
}

export interface AdamSettings {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/** Reads every model weight (trainable and not) as plain arrays, in `model.weights` order. */
export function readModelWeights(model: tf.LayersModel): NamedWeight[] {
  return model.weights.map((weight) => {
    const value = weight.read();
    return { name: weight.originalName, shape: value.shape.slice(), data: new Float32Array(value.dataSync()) };
  });
}

/** Writes weights into the model, matched by name (order-independent), checking count and shapes. */
export function writeModelWeights(model: tf.LayersModel, weights: readonly NamedWeight[]): void {
  if (weights.length !== model.weights.length) {
    throw new Error(`weights do not fit the model: ${weights.length} given, the model has ${model.weights.length}`);
  }
  const byName = new Map(weights.map((w) => [w.name, w]));
  const tensors = model.weights.map((expected) => {
    const w = byName.get(expected.originalName);
    if (w === undefined) throw new Error(`weights do not fit the model: no value for ${expected.originalName}`);
    if (w.shape.join('x') !== expected.shape.join('x')) {
      throw new Error(`weight ${w.name} has shape [${w.shape.join(', ')}], the model expects [${expected.shape.join(', ')}]`);
    }
    return tf.tensor(w.data, w.shape, 'float32');
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
}

/** Runs the optimizer on the calling thread; the fallback when no worker engine is used. */
export class InThreadEngine implements StepEngine {
  private readonly optimizer: tf.AdamOptimizer;
  /** Adam steps exactly these variables, in this order (the data-parallel replicas use the same list). */
  private readonly weights: OptimizedWeight[];

  constructor(
    private readonly trainable: Trainable,
    adam: AdamSettings,
  ) {
    this.optimizer = tf.train.adam(adam.learningRate, adam.beta1, adam.beta2, adam.epsilon);
    this.weights = optimizedWeights(trainable.model);
  }

  async trainBatch(inputs: Float32Array, targets: Float32Array, shape: [number, number, number, number]): Promise<{ loss: number }> {
    const expected = shape[0] * shape[1] * shape[2] * shape[3];
    if (inputs.length !== expected || targets.length !== expected) {
      throw new Error(`trainBatch: inputs (${inputs.length}) and targets (${targets.length}) must both hold ${expected} values for shape [${shape.join(', ')}]`);
    }
    const x = tf.tensor4d(inputs, shape);
    const y = targets === inputs ? x : tf.tensor4d(targets, shape);
    try {
      const variables = this.weights.map((w) => w.variable);
      const loss = this.optimizer.minimize(() => this.trainable.loss(x, y), true, variables);
      if (loss == null) throw new Error('optimizer returned no loss');
      const value = (await loss.data())[0];
      loss.dispose();
      return { loss: value };
    } finally {
      x.dispose();
      if (y !== x) y.dispose();
    }
  }

  async getWeights(): Promise<NamedWeight[]> {
    return readModelWeights(this.trainable.model);
  }

  async setWeights(weights: NamedWeight[]): Promise<void> {
    writeModelWeights(this.trainable.model, weights);
  }

  setLearningRate(learningRate: number): void {
    // tf.AdamOptimizer reads its (protected) learningRate on every step.
    (this.optimizer as unknown as { learningRate: number }).learningRate = learningRate;
  }

  getOptimizerState(): Promise<OptimizerState> {
    return exportAdamState(this.optimizer, this.weights);
  }

  setOptimizerState(state: OptimizerState): Promise<void> {
    return importAdamState(this.optimizer, this.weights, state);
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
