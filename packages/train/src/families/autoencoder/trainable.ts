/**
 * Model factory for training engines. The data-parallel engine loads this module in worker
 * threads (module URL + export name `createTrainable` + a JSON ModelSpec), so it has no side
 * effects besides registering the custom layers (through the layer imports).
 */
import * as tf from '@tensorflow/tfjs';
import { gaussianKl, reconstructionLoss } from '../../losses/losses.js';
import { buildModel, type ModelSpec } from './spec.js';

export interface Trainable {
  model: tf.LayersModel;
  /** Training loss of the model applied (training mode) to `inputs`, against `targets`. */
  loss(inputs: tf.Tensor4D, targets: tf.Tensor4D): tf.Scalar;
}

/** Loss of already-computed model outputs; shared by training (training mode) and validation. */
export function lossOfOutputs(spec: ModelSpec, outputs: tf.Tensor | tf.Tensor[], targets: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const list = Array.isArray(outputs) ? outputs : [outputs];
    const reconstruction = list[0] as tf.Tensor4D;
    const recon = reconstructionLoss(spec.loss, reconstruction, targets);
    if (spec.family !== 'vae' || spec.beta === 0) return recon;
    if (list.length < 3) throw new Error('VAE model must output [reconstruction, latent_mean, latent_log_variance]');
    const pixelsPerImage = spec.inputSize * spec.inputSize * spec.channels;
    return tf.add(recon, tf.mul(gaussianKl(list[1], list[2]), spec.beta / pixelsPerImage)) as tf.Scalar;
  });
}

export function createTrainable(spec: ModelSpec): Trainable {
  const model = buildModel(spec);
  return {
    model,
    loss(inputs, targets) {
      return tf.tidy(() => lossOfOutputs(spec, model.apply(inputs, { training: true }) as tf.Tensor | tf.Tensor[], targets));
    },
  };
}
