import * as tf from '@tensorflow/tfjs';
import { exportAdamState, importAdamState, optimizedWeights, type OptimizedWeight, type OptimizerState } from './adam-state.js';

/** What a model factory returns: the engines only need the model and its training loss. */
export interface Trainable {
  model: tf.LayersModel;
  /** Training loss (mean over the batch) of the model applied in training mode to `inputs`, against `targets`. */
  loss(inputs: tf.Tensor4D, targets: tf.Tensor4D): tf.Scalar;
}

/** Where the engines (and their workers) find the model: `(await import(moduleUrl))[exportName](spec)`. */
export interface TrainableFactory {
  /** file: URL (or absolute path) of an ES module; .ts modules are run through tsx in workers. */
  moduleUrl: string;
  exportName: string;
  /** Structured-cloneable argument of the factory (the model spec, including its seed). */
  spec: unknown;
}

export interface AdamSettings {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export interface NamedWeight {
  name: string;
  shape: number[];
  data: Float32Array;
}

export type BatchShape = [number, number, number, number];

function toImportSpecifier(moduleUrl: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(moduleUrl)) return moduleUrl;
  if (moduleUrl.startsWith('/')) return `file://${moduleUrl}`;
  throw new Error(`factory.moduleUrl must be a file: URL or an absolute path, got ${JSON.stringify(moduleUrl)}`);
}

export async function loadTrainable(factory: TrainableFactory): Promise<Trainable> {
  if (typeof factory?.moduleUrl !== 'string' || typeof factory.exportName !== 'string') {
    throw new Error('factory must be { moduleUrl: string; exportName: string; spec }');
  }
  let module: Record<string, unknown>;
  try {
    module = (await import(toImportSpecifier(factory.moduleUrl))) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`factory module ${factory.moduleUrl} could not be imported: ${error instanceof Error ? error.message : String(error)}`);
  }
  const create = module[factory.exportName];
  if (typeof create !== 'function') {
    throw new Error(`factory module ${factory.moduleUrl} has no exported function '${factory.exportName}'`);
  }
  const trainable = (await (create as (spec: unknown) => Trainable | Promise<Trainable>)(factory.spec)) as Trainable | undefined;
  if (!trainable || !(trainable.model instanceof tf.LayersModel) || typeof trainable.loss !== 'function') {
    throw new Error(`${factory.exportName}(spec) in ${factory.moduleUrl} must return { model: tf.LayersModel; loss(inputs, targets) }`);
  }
  return trainable;
}

export function checkBatch(inputs: Float32Array, targets: Float32Array, shape: BatchShape): void {
  if (!Array.isArray(shape) || shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`trainBatch: shape must be [n, h, w, c] of positive integers, got ${JSON.stringify(shape)}`);
  }
  const size = shape[0] * shape[1] * shape[2] * shape[3];
  if (!(inputs instanceof Float32Array) || inputs.length !== size) {
    throw new Error(`trainBatch: inputs must be a Float32Array of ${size} values for shape ${JSON.stringify(shape)}, got ${inputs?.length}`);
  }
  if (!(targets instanceof Float32Array) || targets.length !== size) {
    throw new Error(`trainBatch: targets must be a Float32Array of ${size} values for shape ${JSON.stringify(shape)}, got ${targets?.length}`);
  }
}

/** A schedule may reach 0 (e.g. cosine decay), so setLearningRate accepts it; creation needs a positive rate. */
export function checkLearningRate(learningRate: number): void {
  if (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || learningRate < 0) {
    throw new Error(`setLearningRate: learningRate must be a finite number >= 0, got ${learningRate}`);
  }
}

export function checkAdam(settings: AdamSettings): void {
  if (!(settings?.learningRate > 0) || !Number.isFinite(settings.learningRate)) {
    throw new Error(`optimizer.learningRate must be a positive number, got ${settings?.learningRate}`);
  }
}

/**
 * One model replica with its Adam optimizer. Both engines use it, so a worker's step and a main-thread step
 * run the same code: gradients of the mean batch loss, then Adam on the (possibly averaged) gradients.
 */
export class Replica {
  private readonly weights: OptimizedWeight[];
  private readonly variables: tf.Variable[];
  private readonly optimizer: tf.AdamOptimizer;

  constructor(private readonly trainable: Trainable, settings: AdamSettings) {
    checkAdam(settings);
    this.weights = optimizedWeights(trainable.model);
    this.variables = this.weights.map((w) => w.variable);
    this.optimizer = tf.train.adam(settings.learningRate, settings.beta1 ?? 0.9, settings.beta2 ?? 0.999, settings.epsilon ?? 1e-7);
  }

  get gradientShapes(): number[][] {
    return this.variables.map((v) => v.shape.slice());
  }

  /** Mean loss and its gradients (in trainable-weight order) over this batch. */
  computeGradients(inputs: Float32Array, targets: Float32Array, shape: BatchShape): { loss: number; gradients: Float32Array[] } {
    const { value, grads } = tf.tidy(() => {
      const x = tf.tensor4d(inputs, shape);
      const y = tf.tensor4d(targets, shape);
      return tf.variableGrads(() => this.trainable.loss(x, y), this.variables);
    });
    const loss = value.dataSync()[0];
    const gradients = this.variables.map((v) => grads[v.name].dataSync() as Float32Array);
    tf.dispose([value, grads]);
    return { loss, gradients };
  }

  applyGradients(gradients: Float32Array[]): void {
    if (gradients.length !== this.variables.length) {
      throw new Error(`applyGradients: expected ${this.variables.length} gradients, got ${gradients.length}`);
    }
    tf.tidy(() => {
      const named: Record<string, tf.Tensor> = {};
      this.variables.forEach((v, i) => {
        named[v.name] = tf.tensor(gradients[i], v.shape);
      });
      this.optimizer.applyGradients(named as Parameters<tf.AdamOptimizer['applyGradients']>[0]);
    });
  }

  setLearningRate(learningRate: number): void {
    checkLearningRate(learningRate);
    // AdamOptimizer reads this field at every applyGradients.
    (this.optimizer as unknown as { learningRate: number }).learningRate = learningRate;
  }

  /** Adam's iteration count and moments, by model weight name (the same form as the main-thread engine's). */
  getOptimizerState(): Promise<OptimizerState> {
    return exportAdamState(this.optimizer, this.weights);
  }

  /** Replaces Adam's iteration count and moments (e.g. to resume); checked against the model first. */
  setOptimizerState(state: OptimizerState): Promise<void> {
    return importAdamState(this.optimizer, this.weights, state);
  }

  /** All model weights (trainable and not, e.g. BN moving statistics), in model.weights order. */
  getWeights(): { weights: NamedWeight[]; trainable: boolean[] } {
    const trainableIds = new Set(this.trainable.model.trainableWeights.map((w) => w.id));
    const list = this.trainable.model.weights;
    return {
      weights: list.map((w) => ({ name: w.originalName, shape: w.shape.map((d) => d ?? 0), data: Float32Array.from(w.read().dataSync() as Float32Array) })),
      trainable: list.map((w) => trainableIds.has(w.id)),
    };
  }

  /** Replaces every model weight, matched by name; counts and shapes must fit the model. */
  setWeights(weights: NamedWeight[]): void {
    const list = this.trainable.model.weights;
    if (!Array.isArray(weights) || weights.length !== list.length) {
      throw new Error(`setWeights: the model has ${list.length} weights, got ${Array.isArray(weights) ? weights.length : typeof weights}`);
    }
    const byName = new Map(weights.map((w) => [w.name, w]));
    const values = list.map((expected) => {
      const weight = byName.get(expected.originalName);
      if (weight === undefined) throw new Error(`setWeights: no value for weight ${expected.originalName}`);
      const size = expected.shape.reduce<number>((acc, d) => acc * (d ?? 0), 1);
      if (weight.shape.join('x') !== expected.shape.join('x') || weight.data.length !== size) {
        throw new Error(`setWeights: ${weight.name} has shape [${weight.shape.join(', ')}] (${weight.data.length} values), the model expects [${expected.shape.join(', ')}]`);
      }
      return weight;
    });
    tf.tidy(() => {
      list.forEach((w, i) => w.write(tf.tensor(values[i].data, values[i].shape)));
    });
  }

  dispose(): void {
    this.optimizer.dispose();
    this.trainable.model.dispose();
  }
}
