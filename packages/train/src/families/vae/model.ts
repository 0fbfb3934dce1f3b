import * as tf from '@tensorflow/tfjs';
import type { OutputSpec, ScoreSpec } from '@residuum/scoring';
import { VaeSampling } from '../../layers/vae-sampling.js';
import { createRandom } from '../../random.js';
import { batchNorm, checkCommonSpec, checkWidths, reconstructionOutput, residualScore, seededGlorot, type CommonModelSpec } from '../autoencoder/common.js';

/**
 * Convolutional VAE: per width a Conv3x3/2-BN-LeakyReLU encoder block, Flatten, two Dense
 * heads (latent mean and log-variance), VaeSampling, Dense + Reshape back to the bottleneck,
 * mirrored Conv2DTranspose3x3/2-BN-LeakyReLU blocks and a Conv3x3 + sigmoid output.
 * Outputs [reconstruction, latent_mean, latent_log_variance]. Loss = reconstruction +
 * beta * KL / (pixels x channels) (the KL summed over the latent, scaled to the per-pixel
 * reconstruction loss). Defaults: 64x64 grey, widths [32, 64, 128], latent 64, beta 1, MSE.
 */
export interface VaeSpec extends CommonModelSpec {
  family: 'vae';
  widths: number[];
  latentDim: number;
  /** Weight of the KL term. */
  beta: number;
}

export const VAE_DEFAULTS: Omit<VaeSpec, 'family'> = { inputSize: 64, channels: 1, seed: 42, loss: 'mse', widths: [32, 64, 128], latentDim: 64, beta: 1 };

export function buildVae(spec: VaeSpec): tf.LayersModel {
  checkWidths(spec.widths, 'vae');
  checkCommonSpec(spec, 'vae', spec.widths.length);
  if (!Number.isInteger(spec.latentDim) || spec.latentDim < 1) {
    throw new Error(`invalid vae model spec: latentDim must be a positive integer, got ${spec.latentDim}`);
  }
  if (!(spec.beta >= 0)) throw new Error(`invalid vae model spec: beta must be >= 0, got ${spec.beta}`);
  const random = createRandom(spec.seed);
  const input = tf.input({ shape: [spec.inputSize, spec.inputSize, spec.channels], name: 'input' });
  let x: tf.SymbolicTensor = input;
  spec.widths.forEach((width, level) => {
    const prefix = `enc${level + 1}`;
    x = tf.layers
      .conv2d({ filters: width, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: seededGlorot(random), name: `${prefix}_conv` })
      .apply(x) as tf.SymbolicTensor;
    x = batchNorm(`${prefix}_bn`).apply(x) as tf.SymbolicTensor;
    x = tf.layers.leakyReLU({ alpha: 0.2, name: `${prefix}_lrelu` }).apply(x) as tf.SymbolicTensor;
  });
  const bottleneckSide = spec.inputSize / 2 ** spec.widths.length;
  const bottleneckWidth = spec.widths[spec.widths.length - 1];
  const flat = tf.layers.flatten({ name: 'enc_flatten' }).apply(x) as tf.SymbolicTensor;
  const mean = tf.layers.dense({ units: spec.latentDim, kernelInitializer: seededGlorot(random), name: 'latent_mean' }).apply(flat) as tf.SymbolicTensor;
  const logVar = tf.layers
    .dense({ units: spec.latentDim, kernelInitializer: tf.initializers.zeros(), name: 'latent_log_variance' })
    .apply(flat) as tf.SymbolicTensor;
  const z = new VaeSampling({ seed: random.seed(), name: 'sampling' }).apply([mean, logVar]) as tf.SymbolicTensor;
  x = tf.layers
    .dense({ units: bottleneckSide * bottleneckSide * bottleneckWidth, activation: 'relu', kernelInitializer: seededGlorot(random), name: 'dec_dense' })
    .apply(z) as tf.SymbolicTensor;
  x = tf.layers.reshape({ targetShape: [bottleneckSide, bottleneckSide, bottleneckWidth], name: 'dec_reshape' }).apply(x) as tf.SymbolicTensor;
  spec.widths
    .slice()
    .reverse()
    .forEach((width, level) => {
      const prefix = `dec${level + 1}`;
      x = tf.layers
        .conv2dTranspose({ filters: width, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: seededGlorot(random), name: `${prefix}_deconv` })
        .apply(x) as tf.SymbolicTensor;
      x = batchNorm(`${prefix}_bn`).apply(x) as tf.SymbolicTensor;
      x = tf.layers.leakyReLU({ alpha: 0.2, name: `${prefix}_lrelu` }).apply(x) as tf.SymbolicTensor;
    });
  x = tf.layers
    .conv2d({ filters: spec.channels, kernelSize: 3, padding: 'same', kernelInitializer: seededGlorot(random), name: 'out_conv' })
    .apply(x) as tf.SymbolicTensor;
  const reconstruction = tf.layers.activation({ activation: 'sigmoid', name: 'reconstruction' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [reconstruction, mean, logVar], name: 'vae' });
}

/** VAE score: squared error between the input and the reconstruction of the latent mean, image mean. */
export function vaeScoreSpec(spec: VaeSpec): ScoreSpec {
  return residualScore(spec.loss);
}

export function vaeOutputs(spec: VaeSpec): OutputSpec[] {
  return [
    reconstructionOutput(spec),
    { name: 'latent_mean', meaning: 'latent-mean', shape: ['N', spec.latentDim] },
    { name: 'latent_log_variance', meaning: 'latent-log-variance', shape: ['N', spec.latentDim] },
  ];
}
