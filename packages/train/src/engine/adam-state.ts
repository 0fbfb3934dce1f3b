/**
 * Adam's state as plain data, keyed by model weight name, so that every engine (the main-thread ones and
 * each data-parallel worker) exports and imports the same thing and a checkpoint written by one resumes in
 * another. tf.AdamOptimizer names its moments after the tf.Variable ('enc1_conv/kernel_3/m'), and those
 * names depend on how many models the thread created before; the model weight names ('enc1_conv/kernel')
 * do not.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedWeight } from './replica.js';

export interface OptimizerState {
  /** Adam steps taken so far (its bias correction depends on it). */
  iterations: number;
  /**
   * First ('<weight name>/m') and second ('<weight name>/v') moment of every trainable weight; empty
   * before the first step (Adam creates its moments then).
   */
  slots: NamedWeight[];
}

/** A trainable model weight: its name in NamedWeight lists and the variable the optimizer updates. */
export interface OptimizedWeight {
  name: string;
  variable: tf.Variable;
}

/** The trainable weights of a model, in the order both engines hand them to Adam. */
export function optimizedWeights(model: tf.LayersModel): OptimizedWeight[] {
  return model.trainableWeights.map((w) => ({ name: w.originalName, variable: w.read() as tf.Variable }));
}

/** Adam's iteration count and moments, copied out; `weights` must be the list the optimizer was stepped with. */
export async function exportAdamState(optimizer: tf.AdamOptimizer, weights: readonly OptimizedWeight[]): Promise<OptimizerState> {
  const [iter, ...moments] = await optimizer.getWeights();
  const iterations = (await iter.tensor.data())[0];
  iter.tensor.dispose();
  if (moments.length === 0) return { iterations, slots: [] };
  if (moments.length !== 2 * weights.length) {
    throw new Error(`optimizer state: Adam holds ${moments.length / 2} moment pairs, the model has ${weights.length} trainable weights`);
  }
  const slots: NamedWeight[] = [];
  for (const [offset, suffix] of [
    [0, 'm'],
    [weights.length, 'v'],
  ] as const) {
    weights.forEach((weight, i) => {
      const moment = moments[offset + i];
      // Adam names a moment '<variable name>/<m|v>' and keeps them in the order of the variables it was given.
      if (moment.name !== `${weight.variable.name}/${suffix}`) {
        throw new Error(`optimizer state: Adam's moment ${moment.name} is not the '${suffix}' moment of ${weight.name} (${weight.variable.name})`);
      }
      slots.push({ name: `${weight.name}/${suffix}`, shape: moment.tensor.shape.slice(), data: Float32Array.from(moment.tensor.dataSync() as Float32Array) });
    });
  }
  return { iterations, slots };
}

/** Checks the form of `state` (no model needed): what the data-parallel engine checks before posting it to workers. */
export function checkOptimizerShape(state: OptimizerState): void {
  if (state === null || typeof state !== 'object' || !Array.isArray(state.slots)) {
    throw new Error('optimizer state must be { iterations: number; slots: NamedWeight[] }');
  }
  if (!Number.isInteger(state.iterations) || state.iterations < 0) {
    throw new Error(`optimizer state: iterations must be an integer >= 0, got ${String(state.iterations)}`);
  }
  state.slots.forEach((slot, i) => {
    if (slot === null || typeof slot !== 'object' || typeof slot.name !== 'string' || !Array.isArray(slot.shape) || !(slot.data instanceof Float32Array)) {
      throw new Error(`optimizer state: slot ${i} must be { name: string; shape: number[]; data: Float32Array }`);
    }
  });
  if (state.slots.length === 0 && state.iterations !== 0) throw new Error(`optimizer state: ${state.iterations} iterations but no moments`);
}

/** Checks `state` against the model's trainable weights; returns the moments in Adam's order (all m, then all v). */
export function checkOptimizerState(state: OptimizerState, weights: readonly OptimizedWeight[]): NamedWeight[] {
  checkOptimizerShape(state);
  if (state.slots.length === 0) return [];
  const byName = new Map<string, NamedWeight>();
  for (const slot of state.slots) {
    if (byName.has(slot.name)) throw new Error(`optimizer state: slot ${slot.name} appears twice`);
    byName.set(slot.name, slot);
  }
  const expected = new Set<string>();
  const ordered: NamedWeight[] = [];
  for (const [suffix, label] of [
    ['m', 'first'],
    ['v', 'second'],
  ] as const) {
    for (const weight of weights) {
      const name = `${weight.name}/${suffix}`;
      expected.add(name);
      const slot = byName.get(name);
      if (slot === undefined) throw new Error(`optimizer state: no ${label} moment (${name}) for weight ${weight.name}`);
      const size = weight.variable.shape.reduce((a, b) => a * b, 1);
      if (slot.shape.join('x') !== weight.variable.shape.join('x') || slot.data.length !== size) {
        throw new Error(`optimizer state: ${name} has shape [${slot.shape.join(', ')}] (${slot.data.length} values), the weight has shape [${weight.variable.shape.join(', ')}]`);
      }
      for (let j = 0; j < slot.data.length; j++) {
        if (!Number.isFinite(slot.data[j])) throw new Error(`optimizer state: ${name} holds a non-finite value (${slot.data[j]}) at index ${j}`);
      }
      if (suffix === 'v' && slot.data.some((value) => value < 0)) throw new Error(`optimizer state: second moment ${name} holds a negative value`);
      ordered.push(slot);
    }
  }
  const unknown = state.slots.filter((slot) => !expected.has(slot.name));
  if (unknown.length > 0) {
    throw new Error(`optimizer state: slots for weights this model does not have: ${unknown.slice(0, 3).map((s) => s.name).join(', ')}${unknown.length > 3 ? ', ...' : ''}`);
  }
  return ordered;
}

/** Replaces Adam's iteration count and moments (checked first; nothing changes when the check fails). */
export async function importAdamState(optimizer: tf.AdamOptimizer, weights: readonly OptimizedWeight[], state: OptimizerState): Promise<void> {
  const ordered = checkOptimizerState(state, weights);
  const previous = await optimizer.getWeights();
  const values = [
    { name: 'iter', tensor: tf.scalar(state.iterations, 'int32') },
    // The names are Adam's own ('<variable name>/m'), so a later export maps them back.
    ...ordered.map((slot, i) => {
      const weight = weights[i % weights.length];
      return { name: `${weight.variable.name}/${i < weights.length ? 'm' : 'v'}`, tensor: tf.tensor(slot.data, slot.shape, 'float32') };
    }),
  ];
  await optimizer.setWeights(values);
  // setWeights made variables of the new tensors (sharing their data) and dropped the old moments without freeing them.
  tf.dispose(values.map((v) => v.tensor));
  tf.dispose(previous.map((p) => p.tensor));
}
