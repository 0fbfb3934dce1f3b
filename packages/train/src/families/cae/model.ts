import * as tf from '@tensorflow/tfjs';
import type { OutputSpec, ScoreSpec } from '@residuum/scoring';
import { NeighborConv2D } from '../../layers/neighbor-conv2d.js';
import { createRandom } from '../../random.js';
import { batchNorm, checkCommonSpec, checkWidths, reconstructionOutput, residualScore, seededGlorot, type CommonModelSpec } from '../autoencoder/common.js';

/**
 * Convolutional autoencoder (the seed's CAE): per width a Conv3x3-BN-ReLU-MaxPool2 encoder
 * block, mirrored Conv2DTranspose3x3/2-BN-ReLU decoder blocks, and a Conv3x3 + sigmoid output.
 * Defaults: 128x128 grey, widths [32, 64, 128] (16x16x128 bottleneck), MSE loss.
 */
export interface CaeSpec extends CommonModelSpec {
  family: 'cae';
  /** Encoder widths, one per depth level (decoder mirrors them). */
  widths: number[];
}

export const CAE_DEFAULTS: Omit<CaeSpec, 'family'> = { inputSize: 128, channels: 1, seed: 42, loss: 'mse', widths: [32, 64, 128] };

/** Shared by CAE and NCAE: the NCAE swaps the first encoder conv for a NeighborConv2D. */
export function buildConvAutoencoder(spec: CommonModelSpec & { widths: number[] }, firstLayer: 'conv' | 'neighbor', name: string): tf.LayersModel {
  const random = createRandom(spec.seed);
  const input = tf.input({ shape: [spec.inputSize, spec.inputSize, spec.channels], name: 'input' });
  let x: tf.SymbolicTensor = input;
  spec.widths.forEach((width, level) => {
    const prefix = `enc${level + 1}`;
    if (level === 0 && firstLayer === 'neighbor') {
      x = new NeighborConv2D({ units: width, activation: 'linear', useBias: false, seed: random.seed(), name: `${prefix}_neighbor` }).apply(x) as tf.SymbolicTensor;
    } else {
      x = tf.layers
        .conv2d({ filters: width, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: seededGlorot(random), name: `${prefix}_conv` })
        .apply(x) as tf.SymbolicTensor;
    }
    x = batchNorm(`${prefix}_bn`).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `${prefix}_relu` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `${prefix}_pool` }).apply(x) as tf.SymbolicTensor;
  });
  const decoderWidths = spec.widths.slice().reverse();
  decoderWidths.forEach((width, level) => {
    const prefix = `dec${level + 1}`;
    x = tf.layers
      .conv2dTranspose({ filters: width, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: seededGlorot(random), name: `${prefix}_deconv` })
      .apply(x) as tf.SymbolicTensor;
    x = batchNorm(`${prefix}_bn`).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `${prefix}_relu` }).apply(x) as tf.SymbolicTensor;
  });
  x = tf.layers
    .conv2d({ filters: spec.channels, kernelSize: 3, padding: 'same', kernelInitializer: seededGlorot(random), name: 'out_conv' })
    .apply(x) as tf.SymbolicTensor;
  const output = tf.layers.activation({ activation: 'sigmoid', name: 'reconstruction' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name });
}

export function buildCae(spec: CaeSpec): tf.LayersModel {
  checkCommonSpec(spec, 'cae', spec.widths?.length ?? 0);
  checkWidths(spec.widths, 'cae');
  return buildConvAutoencoder(spec, 'conv', 'cae');
}

/**
 * CAE score: the 1 - SSIM map (Gaussian window 11, sigma 1.5; Bergmann et al.'s AE-SSIM), image
 * score = its mean, whatever the training loss. Measured on casting (bench/quality.ts, 64 px, MSE
 * training, 2 epochs): image AUROC 0.860 with 1-SSIM/mean against 0.733 with squared/mean.
 */
export function caeScoreSpec(_spec: CaeSpec): ScoreSpec {
  return residualScore('ssim');
}

export function caeOutputs(spec: CaeSpec): OutputSpec[] {
  return [reconstructionOutput(spec)];
}
