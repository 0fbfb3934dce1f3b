/**
 * f-AnoGAN networks (Schlegl et al. 2019), DCGAN-style, built only from layers the ONNX converter maps:
 *
 * - generator  z [zDim] -> Dense -> Reshape 4x4 -> (BN, ReLU, Conv2DTranspose s2)* -> tanh image [S,S,C]
 * - critic     image -> (Conv2D s2 + LeakyReLU)* to 4x4 = the feature layer -> Flatten -> Dense(1).
 *              No BatchNormalization: the WGAN gradient penalty is per-sample, BN would mix the batch.
 * - encoder    image -> (Conv2D s2 + LeakyReLU)* -> Flatten -> Dense(zDim, tanh): z lives in [-1, 1]^zDim,
 *              the box the generator's prior U(-1, 1) samples from.
 *
 * The inference graph chains encoder -> generator and applies a frozen copy of the critic's feature
 * layers to the input and to the reconstruction; the mean squared feature difference is built from
 * DepthwiseConv2D(-1) + Add + Multiply + GlobalAveragePooling2D + Dense(1/c), since the converter has
 * no Subtract/Mean layer.
 */
import * as tf from '@tensorflow/tfjs';

export interface FanoganArchitecture {
  /** Square image side, a power of two >= 8. */
  size: number;
  channels: 1 | 3;
  /** Latent dimension. */
  zDim: number;
  /** Width of the widest-resolution hidden layer; doubles at each halving. */
  baseFilters: number;
}

export const RECONSTRUCTION_OUTPUT = 'reconstruction';
export const FEATURE_RESIDUAL_OUTPUT = 'disc_feature_residual';

/** Number of stride-2 steps between 4x4 and the image. */
export function resolutionSteps(size: number): number {
  const steps = Math.log2(size / 4);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`f-AnoGAN image size must be a power of two >= 8, got ${size}`);
  return steps;
}

export function checkArchitecture(arch: FanoganArchitecture): void {
  resolutionSteps(arch.size);
  if (arch.channels !== 1 && arch.channels !== 3) throw new Error(`f-AnoGAN channels must be 1 or 3, got ${String(arch.channels)}`);
  for (const key of ['zDim', 'baseFilters'] as const) {
    if (!Number.isInteger(arch[key]) || arch[key] < 1) throw new Error(`f-AnoGAN ${key} must be a positive integer, got ${String(arch[key])}`);
  }
}

/** Filters of hidden stage i (i = 0 at full resolution / 2). */
function stageFilters(arch: FanoganArchitecture, stage: number): number {
  return arch.baseFilters * 2 ** stage;
}

/**
 * Glorot, not DCGAN's N(0, 0.02): with the gradient penalty a critic that starts with input gradients
 * near 0 spends its first hundreds of steps just growing them, which short CPU runs cannot afford.
 */
function init(seed: number): ReturnType<typeof tf.initializers.glorotUniform> {
  return tf.initializers.glorotUniform({ seed });
}

export function buildGenerator(arch: FanoganArchitecture, seed: number): tf.LayersModel {
  checkArchitecture(arch);
  const steps = resolutionSteps(arch.size);
  const top = stageFilters(arch, steps - 1);
  const z = tf.input({ shape: [arch.zDim], name: 'gen_z' });
  let x = tf.layers.dense({ units: 4 * 4 * top, useBias: false, kernelInitializer: init(seed), name: 'gen_project' }).apply(z) as tf.SymbolicTensor;
  x = tf.layers.reshape({ targetShape: [4, 4, top], name: 'gen_reshape' }).apply(x) as tf.SymbolicTensor;
  for (let i = 0; i < steps; i++) {
    x = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: `gen_bn_${i}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `gen_relu_${i}` }).apply(x) as tf.SymbolicTensor;
    const last = i === steps - 1;
    x = tf.layers
      .conv2dTranspose({
        filters: last ? arch.channels : stageFilters(arch, steps - 2 - i),
        kernelSize: 4,
        strides: 2,
        padding: 'same',
        useBias: last,
        activation: last ? 'tanh' : 'linear',
        kernelInitializer: init(seed + 1 + i),
        name: last ? 'gen_image' : `gen_up_${i}`,
      })
      .apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: z, outputs: x, name: 'fanogan_generator' });
}

/** Conv2D s2 + LeakyReLU stages from the image down to 4x4 (critic and encoder share the shape). */
function downStages(input: tf.SymbolicTensor, arch: FanoganArchitecture, prefix: string, seed: number): tf.SymbolicTensor {
  const steps = resolutionSteps(arch.size);
  let x = input;
  for (let i = 0; i < steps; i++) {
    x = tf.layers
      .conv2d({ filters: stageFilters(arch, i), kernelSize: 4, strides: 2, padding: 'same', kernelInitializer: init(seed + i), name: `${prefix}_conv_${i}` })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.leakyReLU({ alpha: 0.2, name: `${prefix}_lrelu_${i}` }).apply(x) as tf.SymbolicTensor;
  }
  return x;
}

/** The critic with two outputs: [score [1], features [4,4,c]] (features = its last hidden layer). */
export function buildCritic(arch: FanoganArchitecture, seed: number): tf.LayersModel {
  checkArchitecture(arch);
  const image = tf.input({ shape: [arch.size, arch.size, arch.channels], name: 'critic_image' });
  const features = downStages(image, arch, 'critic', seed);
  const flat = tf.layers.flatten({ name: 'critic_flatten' }).apply(features) as tf.SymbolicTensor;
  const score = tf.layers.dense({ units: 1, kernelInitializer: init(seed + 100), name: 'critic_score' }).apply(flat) as tf.SymbolicTensor;
  return tf.model({ inputs: image, outputs: [score, features], name: 'fanogan_critic' });
}

export function buildEncoder(arch: FanoganArchitecture, seed: number): tf.LayersModel {
  checkArchitecture(arch);
  const image = tf.input({ shape: [arch.size, arch.size, arch.channels], name: 'encoder_image' });
  const features = downStages(image, arch, 'enc', seed);
  const flat = tf.layers.flatten({ name: 'enc_flatten' }).apply(features) as tf.SymbolicTensor;
  const z = tf.layers
    // Small initial weights keep tanh in its linear range: a saturated start has no gradient to leave it by.
    .dense({ units: arch.zDim, activation: 'tanh', kernelInitializer: tf.initializers.varianceScaling({ scale: 0.01, mode: 'fanIn', distribution: 'uniform', seed: seed + 100 }), name: 'enc_z' })
    .apply(flat) as tf.SymbolicTensor;
  return tf.model({ inputs: image, outputs: z, name: 'fanogan_encoder' });
}

/** Layers of `model` after its input, in topological order (all our sub-models are chains). */
function chainLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
}

/**
 * Re-creates `source`'s chain layers from their configs under new names, applies them to `x` and copies
 * the weights (the copies are frozen). Copies rather than shared layers keep every layer of the exported
 * graph called once, which is what the converter's topology walk and the weight manifest expect.
 */
function applyCopies(layers: readonly tf.layers.Layer[], x: tf.SymbolicTensor, prefix: string): tf.SymbolicTensor {
  let out = x;
  for (const layer of layers) {
    const config = { ...layer.getConfig(), name: `${prefix}${layer.name}`, trainable: false };
    const LayerClass = tf.serialization.SerializationMap.getMap().classNameMap[layer.getClassName()]?.[0] as unknown as
      | (new (config: tf.serialization.ConfigDict) => tf.layers.Layer)
      | undefined;
    if (!LayerClass) throw new Error(`f-AnoGAN graph: layer class ${layer.getClassName()} is not registered`);
    const copy = new LayerClass(config);
    out = copy.apply(out) as tf.SymbolicTensor;
    copy.setWeights(layer.getWeights());
  }
  return out;
}

/** Layers of the critic up to (and including) its feature layer. */
export function criticFeatureLayers(critic: tf.LayersModel): tf.layers.Layer[] {
  const layers = chainLayers(critic);
  const flatten = layers.findIndex((l) => l.name === 'critic_flatten');
  if (flatten < 1) throw new Error('f-AnoGAN critic has no critic_flatten layer');
  return layers.slice(0, flatten);
}

/**
 * The exported inference graph: input [S,S,C] -> encoder -> generator = `reconstruction`, and
 * `disc_feature_residual` [1] = mean over the critic features of (f(input) - f(reconstruction))^2.
 */
export function buildInferenceGraph(arch: FanoganArchitecture, encoder: tf.LayersModel, generator: tf.LayersModel, critic: tf.LayersModel): tf.LayersModel {
  checkArchitecture(arch);
  const input = tf.input({ shape: [arch.size, arch.size, arch.channels], name: 'input' });
  const z = applyCopies(chainLayers(encoder), input, '');
  const reconstruction = applyCopies(chainLayers(generator), z, '');
  const featureLayers = criticFeatureLayers(critic);
  const inputFeatures = applyCopies(featureLayers, input, 'in_');
  const reconstructionFeatures = applyCopies(featureLayers, reconstruction, 'rec_');
  const featureChannels = inputFeatures.shape[3] as number;
  const negated = tf.layers
    .depthwiseConv2d({ kernelSize: 1, depthMultiplier: 1, useBias: false, depthwiseInitializer: tf.initializers.constant({ value: -1 }), trainable: false, name: 'residual_negate' })
    .apply(reconstructionFeatures) as tf.SymbolicTensor;
  const difference = tf.layers.add({ name: 'residual_difference' }).apply([inputFeatures, negated]) as tf.SymbolicTensor;
  const squared = tf.layers.multiply({ name: 'residual_squared' }).apply([difference, difference]) as tf.SymbolicTensor;
  const spatialMean = tf.layers.globalAveragePooling2d({ name: 'residual_spatial_mean' }).apply(squared) as tf.SymbolicTensor;
  const residual = tf.layers
    .dense({ units: 1, useBias: false, kernelInitializer: tf.initializers.constant({ value: 1 / featureChannels }), trainable: false, name: FEATURE_RESIDUAL_OUTPUT })
    .apply(spatialMean) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [reconstruction, residual], name: 'fanogan' });
}
