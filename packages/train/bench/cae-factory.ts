/**
 * A small convolutional autoencoder for the engine tests and the throughput benchmark (the real model
 * families live in src/families/<name>/). Conv3x3-BN-ReLU-MaxPool2 encoder (widths 32-64-128 by default),
 * mirrored Conv2DTranspose3x3/2-BN-ReLU decoder, Conv3x3 + sigmoid output, MSE loss.
 * Loaded by the data-parallel engine's workers through { moduleUrl, exportName: 'createBenchCae', spec }.
 */
import * as tf from '@tensorflow/tfjs';

export interface BenchCaeSpec {
  size: number;
  channels: number;
  widths: number[];
  seed: number;
  /** false drops the BN layers: then a data-parallel step equals a full-batch step exactly (no batch statistics). */
  batchNorm: boolean;
}

export const BENCH_CAE_DEFAULTS: BenchCaeSpec = { size: 128, channels: 1, widths: [32, 64, 128], seed: 7, batchNorm: true };

export interface BenchTrainable {
  model: tf.LayersModel;
  loss(inputs: tf.Tensor4D, targets: tf.Tensor4D): tf.Scalar;
}

export function createBenchCae(spec: BenchCaeSpec): BenchTrainable {
  let seed = spec.seed;
  const init = (): ReturnType<typeof tf.initializers.glorotUniform> => tf.initializers.glorotUniform({ seed: seed++ });
  const input = tf.input({ shape: [spec.size, spec.size, spec.channels], name: 'input' });
  let x: tf.SymbolicTensor = input;
  const block = (layer: tf.layers.Layer, name: string): void => {
    x = layer.apply(x) as tf.SymbolicTensor;
    if (spec.batchNorm) x = tf.layers.batchNormalization({ name: `${name}_bn` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `${name}_relu` }).apply(x) as tf.SymbolicTensor;
  };
  spec.widths.forEach((width, i) => {
    block(tf.layers.conv2d({ filters: width, kernelSize: 3, padding: 'same', useBias: !spec.batchNorm, kernelInitializer: init(), name: `enc${i + 1}_conv` }), `enc${i + 1}`);
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `enc${i + 1}_pool` }).apply(x) as tf.SymbolicTensor;
  });
  [...spec.widths].reverse().forEach((width, i) => {
    block(
      tf.layers.conv2dTranspose({ filters: width, kernelSize: 3, strides: 2, padding: 'same', useBias: !spec.batchNorm, kernelInitializer: init(), name: `dec${i + 1}_deconv` }),
      `dec${i + 1}`,
    );
  });
  x = tf.layers.conv2d({ filters: spec.channels, kernelSize: 3, padding: 'same', kernelInitializer: init(), name: 'out_conv' }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.activation({ activation: 'sigmoid', name: 'reconstruction' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output, name: 'bench_cae' });
  return {
    model,
    loss: (inputs, targets) => tf.tidy(() => tf.losses.meanSquaredError(targets, model.apply(inputs, { training: true }) as tf.Tensor4D) as tf.Scalar),
  };
}

/**
 * FLOPs of one training step per image, conv layers only (2 per multiply-accumulate): forward, the filter
 * gradient of every conv, and the input gradient of every conv but the first (nothing needs d(input)).
 */
export function benchCaeTrainingFlopsPerImage(spec: BenchCaeSpec): { forward: number; training: number } {
  const layerMacs: number[] = [];
  let size = spec.size;
  let channels = spec.channels;
  for (const width of spec.widths) {
    layerMacs.push(size * size * 9 * channels * width);
    channels = width;
    size /= 2;
  }
  for (const width of [...spec.widths].reverse()) {
    // A transposed conv does k*k*Cin*Cout MACs per input pixel.
    layerMacs.push(size * size * 9 * channels * width);
    channels = width;
    size *= 2;
  }
  layerMacs.push(size * size * 9 * channels * spec.channels);
  const forward = 2 * layerMacs.reduce((a, b) => a + b, 0);
  return { forward, training: forward + forward + (forward - 2 * layerMacs[0]) };
}
