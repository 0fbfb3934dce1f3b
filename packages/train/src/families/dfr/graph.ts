/**
 * DFR graphs, built only from layers the ONNX converter maps (Concatenate, the backbone's Conv2D /
 * DepthwiseConv2D / BatchNormalization / ReLU6, UpSampling2D bilinear, AveragePooling2D, Add, Multiply):
 *
 *   input [N,H,W,1|3] -> (grey: Concatenate x3) -> backbone taps -> bilinear UpSampling2D to the first
 *   tap's grid -> Concatenate -> AveragePooling2D(cell, stride cell) = features [N,h,w,C]
 *   -> per-channel standardization (frozen 1x1 DepthwiseConv2D: (f - mean) / std of the training features)
 *   -> 1x1-conv autoencoder (BN + ReLU) = reconstruction
 *   -> error = mean_c (features - reconstruction)^2  [N,h,w,1]
 *
 * The converter has no Subtract, so the difference is Add(features, -reconstruction) with the negation
 * a frozen 1x1 DepthwiseConv2D of weight -1; the channel mean is a frozen 1x1 Conv2D of weight 1/C.
 */
import * as tf from '@tensorflow/tfjs';
import { applyBackbone } from './backbone.js';

export interface DfrGraphShape {
  inputSize: number;
  channels: 1 | 3;
  /** Side of the common grid the taps are resized to (the first tap's), before cell averaging. */
  tapGrid: number;
  /** Side of the feature grid after cell averaging (h = w). */
  featureGrid: number;
  /** Channels per tap and in total. */
  tapChannels: number[];
  featureChannels: number;
}

export const FEATURE_ERROR_LAYER = 'dfr_feature_error';

function square(shape: tf.Shape, what: string): number {
  const [, h, w] = shape;
  if (typeof h !== 'number' || typeof w !== 'number' || h !== w) throw new Error(`${what} must have a square, known spatial size, got ${JSON.stringify(shape)}`);
  return h;
}

/**
 * Feature aggregation: every tap resized (bilinear UpSampling2D, TF.js conventions) to the first tap's
 * grid, concatenated channel-wise, then averaged over cell x cell windows with stride cell (DFR's
 * 4x4 average), giving one C-dimensional descriptor per grid position.
 */
export function aggregateFeatures(taps: tf.SymbolicTensor[], cell: number, names: readonly string[]): { features: tf.SymbolicTensor; shape: Omit<DfrGraphShape, 'inputSize' | 'channels'> } {
  if (!Number.isInteger(cell) || cell < 1) throw new Error(`feature cell size must be a positive integer, got ${cell}`);
  const tapGrid = square(taps[0].shape, `tap ${names[0]}`);
  const resized = taps.map((tap, i) => {
    const side = square(tap.shape, `tap ${names[i]}`);
    if (side > tapGrid) throw new Error(`tap ${names[i]} (${side}x${side}) is finer than the first tap ${names[0]} (${tapGrid}x${tapGrid}): list the finest tap first`);
    const factor = tapGrid / side;
    if (!Number.isInteger(factor)) throw new Error(`tap ${names[i]} (${side}x${side}) does not divide the first tap's grid ${tapGrid}x${tapGrid}`);
    if (factor === 1) return tap;
    return tf.layers.upSampling2d({ size: [factor, factor], interpolation: 'bilinear', name: `dfr_resize_${i}` }).apply(tap) as tf.SymbolicTensor;
  });
  const joined = resized.length === 1 ? resized[0] : (tf.layers.concatenate({ axis: -1, name: 'dfr_concat' }).apply(resized) as tf.SymbolicTensor);
  if (tapGrid % cell !== 0) throw new Error(`the tap grid ${tapGrid}x${tapGrid} is not a multiple of the cell size ${cell}: choose an input size that makes it one`);
  const features = tf.layers.averagePooling2d({ poolSize: cell, strides: cell, padding: 'valid', name: 'dfr_cell_mean' }).apply(joined) as tf.SymbolicTensor;
  const tapChannels = taps.map((t) => t.shape[3] as number);
  return {
    features,
    shape: { tapGrid, featureGrid: tapGrid / cell, tapChannels, featureChannels: tapChannels.reduce((a, b) => a + b, 0) },
  };
}

/** DFR's autoencoder widths (Shi et al.): C -> (C+2c)/2 -> 2c -> c -> 2c -> (C+2c)/2 -> C. */
export function autoencoderWidths(featureChannels: number, latent: number): number[] {
  if (!Number.isInteger(latent) || latent < 1) throw new Error(`latent width must be a positive integer, got ${latent}`);
  const outer = Math.floor((featureChannels + 2 * latent) / 2);
  return [outer, 2 * latent, latent, 2 * latent, outer, featureChannels];
}

/**
 * The autoencoder as layers, applied in order. `pointwise` picks 1x1 Conv2D (the full graph) or Dense
 * (training on flat feature vectors: the same function per position, and MatMul is the fastest kernel).
 * Hidden layers: conv -> BN -> ReLU; the latent and the output layer are linear.
 */
export function autoencoderLayers(featureChannels: number, latent: number, pointwise: 'conv' | 'dense', seed: number): tf.layers.Layer[] {
  const widths = autoencoderWidths(featureChannels, latent);
  const layers: tf.layers.Layer[] = [];
  widths.forEach((units, i) => {
    const linear = i === 2 || i === widths.length - 1;
    const kernelInitializer = tf.initializers.glorotUniform({ seed: seed + i });
    const name = `dfr_ae_${i}`;
    layers.push(
      pointwise === 'conv'
        ? tf.layers.conv2d({ filters: units, kernelSize: 1, useBias: true, kernelInitializer, name })
        : tf.layers.dense({ units, useBias: true, kernelInitializer, name }),
    );
    if (!linear) {
      layers.push(tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5, name: `dfr_ae_${i}_bn` }));
      layers.push(tf.layers.reLU({ name: `dfr_ae_${i}_relu` }));
    }
  });
  return layers;
}

function applyAll(layers: tf.layers.Layer[], x: tf.SymbolicTensor): tf.SymbolicTensor {
  return layers.reduce((t, layer) => layer.apply(t) as tf.SymbolicTensor, x);
}

/** mean over channels of (features - reconstruction)^2, with converter-supported layers only. */
export function featureErrorMap(features: tf.SymbolicTensor, reconstruction: tf.SymbolicTensor, channels: number): tf.SymbolicTensor {
  const negated = tf.layers
    .depthwiseConv2d({ kernelSize: 1, depthMultiplier: 1, useBias: false, depthwiseInitializer: tf.initializers.constant({ value: -1 }), trainable: false, name: 'dfr_negate' })
    .apply(reconstruction) as tf.SymbolicTensor;
  const difference = tf.layers.add({ name: 'dfr_difference' }).apply([features, negated]) as tf.SymbolicTensor;
  const squared = tf.layers.multiply({ name: 'dfr_squared' }).apply([difference, difference]) as tf.SymbolicTensor;
  return tf.layers
    .conv2d({ filters: 1, kernelSize: 1, useBias: false, kernelInitializer: tf.initializers.constant({ value: 1 / channels }), trainable: false, name: FEATURE_ERROR_LAYER })
    .apply(squared) as tf.SymbolicTensor;
}

/** Per-channel statistics of the training features; standardized features weigh every channel alike in the error. */
export interface FeatureStandardization {
  mean: Float32Array;
  std: Float32Array;
}

/** (features - mean) / std per channel as a frozen 1x1 DepthwiseConv2D (weight 1/std, bias -mean/std). */
export function standardizeFeatures(features: tf.SymbolicTensor, standardization: FeatureStandardization): tf.SymbolicTensor {
  const channels = features.shape[3] as number;
  const { mean, std } = standardization;
  if (mean.length !== channels || std.length !== channels) throw new Error(`feature standardization has ${mean.length}/${std.length} values for ${channels} channels`);
  if (!std.every((v) => v > 0 && Number.isFinite(v))) throw new Error('feature standardization: every std must be a positive number');
  const layer = tf.layers.depthwiseConv2d({ kernelSize: 1, depthMultiplier: 1, useBias: true, trainable: false, name: 'dfr_standardize' });
  const output = layer.apply(features) as tf.SymbolicTensor;
  layer.setWeights([
    tf.tensor4d(Float32Array.from(std, (s) => 1 / s), [1, 1, channels, 1]),
    tf.tensor1d(Float32Array.from(mean, (m, i) => -m / std[i])),
  ]);
  return output;
}

export interface FeatureExtractor {
  /** input [N,H,W,channels] in the backbone's normalized space -> features [N,h,w,C]. */
  model: tf.LayersModel;
  shape: DfrGraphShape;
}

function backboneInput(inputSize: number, channels: 1 | 3): { input: tf.SymbolicTensor; rgb: tf.SymbolicTensor } {
  if (!Number.isInteger(inputSize) || inputSize < 1) throw new Error(`input size must be a positive integer, got ${inputSize}`);
  const input = tf.input({ shape: [inputSize, inputSize, channels], name: 'input' });
  // ImageNet backbones take RGB: a grey model replicates its one channel in-graph.
  const rgb = channels === 1 ? (tf.layers.concatenate({ axis: -1, name: 'dfr_grey_to_rgb' }).apply([input, input, input]) as tf.SymbolicTensor) : input;
  return { input, rgb };
}

/** Frozen backbone + aggregation: what the autoencoder trains on. */
export function buildFeatureExtractor(backbone: tf.LayersModel, taps: readonly string[], inputSize: number, channels: 1 | 3, cell: number): FeatureExtractor {
  const { input, rgb } = backboneInput(inputSize, channels);
  const tapTensors = applyBackbone(backbone, rgb, taps);
  const { features, shape } = aggregateFeatures(tapTensors, cell, taps);
  return { model: tf.model({ inputs: input, outputs: features, name: 'dfr_features' }), shape: { inputSize, channels, ...shape } };
}

/** The training autoencoder on flat feature vectors [M, C] (Dense layers). */
export function buildVectorAutoencoder(featureChannels: number, latent: number, seed: number): tf.LayersModel {
  const input = tf.input({ shape: [featureChannels], name: 'dfr_feature_vector' });
  return tf.model({ inputs: input, outputs: applyAll(autoencoderLayers(featureChannels, latent, 'dense', seed), input), name: 'dfr_autoencoder' });
}

/**
 * The whole inference graph as one functional model: image in, feature error map out. The trained
 * Dense autoencoder's weights are copied into the 1x1 convolutions (kernel [Cin, Cout] -> [1,1,Cin,Cout]).
 */
export function buildDfrGraph(
  backbone: tf.LayersModel,
  taps: readonly string[],
  inputSize: number,
  channels: 1 | 3,
  cell: number,
  trainedAutoencoder: tf.LayersModel,
  standardization?: FeatureStandardization,
): { model: tf.LayersModel; shape: DfrGraphShape } {
  const { input, rgb } = backboneInput(inputSize, channels);
  const tapTensors = applyBackbone(backbone, rgb, taps);
  const aggregated = aggregateFeatures(tapTensors, cell, taps);
  const error = featureErrorHead(aggregated.features, aggregated.shape.featureChannels, trainedAutoencoder, standardization);
  return { model: tf.model({ inputs: input, outputs: error, name: 'dfr' }), shape: { inputSize, channels, ...aggregated.shape } };
}

/** Aggregated features -> (standardization) -> the trained autoencoder as 1x1 convolutions -> feature error map. */
function featureErrorHead(aggregated: tf.SymbolicTensor, featureChannels: number, trainedAutoencoder: tf.LayersModel, standardization?: FeatureStandardization): tf.SymbolicTensor {
  const features = standardization ? standardizeFeatures(aggregated, standardization) : aggregated;
  const trained = trainedAutoencoder.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const latent = (trained.find((l) => l.name === 'dfr_ae_2') as tf.layers.Layer | undefined)?.getWeights()[0]?.shape[1];
  if (latent === undefined) throw new Error('buildDfrGraph: the autoencoder has no latent layer dfr_ae_2');
  const convLayers = autoencoderLayers(featureChannels, latent, 'conv', 0);
  const reconstruction = applyAll(convLayers, features);
  if (convLayers.length !== trained.length) throw new Error(`buildDfrGraph: autoencoder has ${trained.length} layers, expected ${convLayers.length}`);
  convLayers.forEach((layer, i) => {
    const weights = trained[i].getWeights();
    layer.setWeights(layer.getClassName() === 'Conv2D' ? weights.map((w, j) => (j === 0 ? w.reshape([1, 1, ...w.shape]) : w)) : weights);
  });
  return featureErrorMap(features, reconstruction, featureChannels);
}

/**
 * The DFR head for a backbone that runs outside TF.js (onnxruntime): one input per tap, named like the
 * backbone's graph output, NHWC -> aggregation -> standardization -> autoencoder -> feature error map.
 * The converter converts it on its own and splices it behind the backbone's ONNX file.
 */
export function buildDfrHeadOnTaps(
  taps: ReadonlyArray<{ name: string; shape: [number, number, number] }>,
  inputSize: number,
  cell: number,
  trainedAutoencoder: tf.LayersModel,
  standardization?: FeatureStandardization,
): { model: tf.LayersModel; shape: DfrGraphShape } {
  const inputs = taps.map((t) => tf.input({ shape: t.shape, name: t.name }));
  const aggregated = aggregateFeatures(inputs, cell, taps.map((t) => t.name));
  const error = featureErrorHead(aggregated.features, aggregated.shape.featureChannels, trainedAutoencoder, standardization);
  return { model: tf.model({ inputs, outputs: error, name: 'dfr_head' }), shape: { inputSize, channels: 3, ...aggregated.shape } };
}
