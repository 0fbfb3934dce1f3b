import * as tf from '@tensorflow/tfjs';
import { DEFAULT_MC_DROPOUT_SEED, type McDropoutSpec, type OutputSpec, type ScoreSpec } from '@residuum/scoring';
import { McDropout } from '../../layers/mc-dropout.js';
import { createRandom } from '../../random.js';
import { batchNorm, checkCommonSpec, checkWidths, reconstructionOutput, residualScore, seededGlorot, type CommonModelSpec } from '../autoencoder/common.js';

/**
 * AESc (Collin & De Vleeschouwer, "Improved anomaly detection by training an autoencoder with
 * skip connections on images corrupted with stain-shaped noise", ICPR 2020): per depth a
 * strided 5x5 conv + BN + LeakyReLU (+ MC-Dropout), decoder of 5x5/2 transposed convs + BN +
 * LeakyReLU whose outputs are ADDED to the encoder features of the same resolution, sigmoid
 * output. Trained on stain-corrupted inputs against the clean target (see noise/stain.ts).
 * Defaults: 128x128 grey, widths [32, 64, 128, 128, 256, 256] (2x2 bottleneck), dropout rates
 * [0, 0, 0.1, 0.2, 0.4, 0.5] per depth, 30 MC samples, MSE loss.
 */
export interface AescSpec extends CommonModelSpec {
  family: 'aesc';
  /** Encoder widths, one per depth (each level halves the resolution). */
  widths: number[];
  /** MC-Dropout rate per depth (same length as widths); 0 = no dropout layer at that depth. */
  dropoutRates: number[];
  /** Stochastic passes the runtime runs for the uncertainty map. */
  mcSamples: number;
  /** Slope of LeakyReLU for negative inputs. */
  leakyAlpha: number;
}

export const AESC_DEFAULT_DROPOUT_RATES = [0, 0, 0.1, 0.2, 0.4, 0.5];

export const AESC_DEFAULTS: Omit<AescSpec, 'family'> = {
  inputSize: 128,
  channels: 1,
  seed: 42,
  loss: 'mse',
  widths: [32, 64, 128, 128, 256, 256],
  dropoutRates: AESC_DEFAULT_DROPOUT_RATES,
  mcSamples: 30,
  leakyAlpha: 0.2,
};

/** Dropout rates for a depth other than 6: the deepest `depth` entries of the paper's schedule. */
export function defaultAescDropoutRates(depth: number): number[] {
  if (depth >= AESC_DEFAULT_DROPOUT_RATES.length) {
    return [...new Array<number>(depth - AESC_DEFAULT_DROPOUT_RATES.length).fill(0), ...AESC_DEFAULT_DROPOUT_RATES];
  }
  return AESC_DEFAULT_DROPOUT_RATES.slice(AESC_DEFAULT_DROPOUT_RATES.length - depth);
}

function checkAesc(spec: AescSpec): void {
  checkWidths(spec.widths, 'aesc');
  checkCommonSpec(spec, 'aesc', spec.widths.length);
  const rates = spec.dropoutRates;
  if (!Array.isArray(rates) || rates.length !== spec.widths.length || rates.some((r) => !(r >= 0 && r < 1))) {
    throw new Error(
      `invalid aesc model spec: dropoutRates must hold one rate in [0, 1) per depth (${spec.widths.length}), got ${JSON.stringify(rates)}`,
    );
  }
  if (!Number.isInteger(spec.mcSamples) || spec.mcSamples < 1) {
    throw new Error(`invalid aesc model spec: mcSamples must be a positive integer, got ${spec.mcSamples}`);
  }
}

export function buildAesc(spec: AescSpec): tf.LayersModel {
  checkAesc(spec);
  const random = createRandom(spec.seed);
  const input = tf.input({ shape: [spec.inputSize, spec.inputSize, spec.channels], name: 'input' });
  const encoderFeatures: tf.SymbolicTensor[] = [];
  let x: tf.SymbolicTensor = input;
  spec.widths.forEach((width, depth) => {
    const prefix = `enc${depth + 1}`;
    x = tf.layers
      .conv2d({ filters: width, kernelSize: 5, strides: 2, padding: 'same', useBias: false, kernelInitializer: seededGlorot(random), name: `${prefix}_conv` })
      .apply(x) as tf.SymbolicTensor;
    x = batchNorm(`${prefix}_bn`).apply(x) as tf.SymbolicTensor;
    x = tf.layers.leakyReLU({ alpha: spec.leakyAlpha, name: `${prefix}_lrelu` }).apply(x) as tf.SymbolicTensor;
    const rate = spec.dropoutRates[depth];
    if (rate > 0) {
      x = new McDropout({ rate, seed: random.seed(), name: `${prefix}_mc_dropout` }).apply(x) as tf.SymbolicTensor;
    }
    encoderFeatures.push(x);
  });
  for (let depth = spec.widths.length - 1; depth >= 1; depth--) {
    const prefix = `dec${depth}`;
    x = tf.layers
      .conv2dTranspose({ filters: spec.widths[depth - 1], kernelSize: 5, strides: 2, padding: 'same', useBias: false, kernelInitializer: seededGlorot(random), name: `${prefix}_deconv` })
      .apply(x) as tf.SymbolicTensor;
    x = batchNorm(`${prefix}_bn`).apply(x) as tf.SymbolicTensor;
    x = tf.layers.leakyReLU({ alpha: spec.leakyAlpha, name: `${prefix}_lrelu` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.add({ name: `${prefix}_skip_add` }).apply([x, encoderFeatures[depth - 1]]) as tf.SymbolicTensor;
  }
  x = tf.layers
    .conv2dTranspose({ filters: spec.channels, kernelSize: 5, strides: 2, padding: 'same', kernelInitializer: seededGlorot(random), name: 'out_deconv' })
    .apply(x) as tf.SymbolicTensor;
  const output = tf.layers.activation({ activation: 'sigmoid', name: 'reconstruction' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'aesc' });
}

/**
 * AESc score: squared-error map of the mean reconstruction over `mcSamples` MC-Dropout passes,
 * and its mean; the per-pixel variance of the passes is the uncertainty map.
 */
export function aescScoreSpec(spec: AescSpec): ScoreSpec {
  return residualScore(spec.loss);
}

export function aescOutputs(spec: AescSpec): OutputSpec[] {
  return [reconstructionOutput(spec)];
}

/**
 * The dropout mask inputs the ONNX export adds: `mc_mask_<k>`, k = order of the McDropout
 * layer among the model's McDropout layers (topological order), shape [N, C, H, W].
 */
export function aescMcDropoutSpec(spec: AescSpec): McDropoutSpec {
  const maskInputs: McDropoutSpec['maskInputs'] = [];
  spec.widths.forEach((width, depth) => {
    const rate = spec.dropoutRates[depth];
    if (rate > 0) {
      const side = spec.inputSize / 2 ** (depth + 1);
      maskInputs.push({ name: `mc_mask_${maskInputs.length}`, shape: ['N', width, side, side], rate });
    }
  });
  return { samples: spec.mcSamples, maskInputs, seed: DEFAULT_MC_DROPOUT_SEED };
}
