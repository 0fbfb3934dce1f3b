/**
 * PatchCore's graphs (Roth et al. 2022, "Towards total recall in industrial anomaly detection"), on
 * the taps of an ONNX backbone (one NHWC input per tap, named like the backbone's graph output), from
 * layers the ONNX converter maps:
 *
 *   taps -> k x k AveragePooling2D (stride 1, 'same', padding not counted: locally aware patch features;
 *           k = the local window, 3 by default, 1 = no averaging)
 *        -> bilinear UpSampling2D to the first (finest) tap's grid -> Concatenate (C channels)
 *        -> frozen 1x1 Conv2D, C -> D (a seeded random projection or adaptive averaging) = patch features
 *        -> NearestNeighbourDistance (memory bank, non-trainable weight) = distance map [N, h, w, 1]
 */
import * as tf from '@tensorflow/tfjs';
import { NearestNeighbourDistance } from '../../layers/nearest-neighbour-distance.js';
import type { TapShape } from '../dfr/onnx-backbone.js';
import { gaussianProjection } from './coreset.js';

/** How the concatenated tap channels are reduced to the patch feature width. */
export type PatchReduction = 'random-projection' | 'adaptive-average';
export const PATCH_REDUCTIONS: readonly PatchReduction[] = ['random-projection', 'adaptive-average'];

export interface PatchFeatureShape {
  /** Side of the patch grid (the first tap's). */
  grid: number;
  tapChannels: number[];
  /** Channels after concatenation (before the reduction). */
  concatenated: number;
  /** Patch feature width D. */
  dim: number;
}

export interface PatchFeatureGraph {
  inputs: tf.SymbolicTensor[];
  features: tf.SymbolicTensor;
  /** taps -> patch features [N, grid, grid, D]. */
  model: tf.LayersModel;
  shape: PatchFeatureShape;
}

/**
 * Why a local window is unusable, or undefined when it is fine: an odd integer >= 1 (an even window has
 * no centre patch, so 'same' padding would shift the features by half a patch). Defined once for the
 * trainer and the CLI, which prefix their own name.
 */
export function localWindowProblem(window: unknown): string | undefined {
  if (typeof window !== 'number' || !Number.isInteger(window)) return `must be a whole number, got ${String(window)}`;
  if (window < 1) return `must be at least 1 (1 = no averaging), got ${window}`;
  if (window % 2 === 0) return `must be odd (a window centred on its patch: 1, 3, 5, ...), got ${window}`;
  return undefined;
}

function square(shape: readonly number[], what: string): number {
  if (shape[0] !== shape[1]) throw new Error(`${what} must be square, got ${shape[0]}x${shape[1]}`);
  return shape[0];
}

/**
 * The [C, D] reduction matrix over the concatenated taps (C = sum of tapChannels). 'random-projection':
 * Gaussian, scaled by 1/sqrt(D) (distances kept in expectation; seeded). 'adaptive-average' (PatchCore's
 * reduction): each tap gets D / taps of the outputs, output j of a tap with c channels averaging its
 * channels floor(j c / d) .. ceil((j + 1) c / d) - 1 (torch's adaptive_avg_pool1d), so every tap
 * weighs the same in the distance whatever its width.
 */
export function reductionMatrix(kind: PatchReduction, tapChannels: readonly number[], dim: number, seed: number): Float32Array {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`patch feature width must be a positive integer, got ${String(dim)}`);
  const channels = tapChannels.reduce((a, b) => a + b, 0);
  if (kind === 'random-projection') return gaussianProjection(channels, dim, seed);
  if (kind !== 'adaptive-average') throw new Error(`unknown patch reduction '${String(kind)}' (${PATCH_REDUCTIONS.join(', ')})`);
  const perTap = dim / tapChannels.length;
  if (!Number.isInteger(perTap)) throw new Error(`adaptive averaging splits the ${dim} patch dimensions evenly over ${tapChannels.length} taps: choose a multiple of ${tapChannels.length}`);
  const matrix = new Float32Array(channels * dim);
  let offset = 0;
  tapChannels.forEach((c, t) => {
    if (perTap > c) throw new Error(`adaptive averaging cannot widen a tap of ${c} channels to ${perTap}`);
    for (let j = 0; j < perTap; j++) {
      const from = Math.floor((j * c) / perTap);
      const to = Math.ceil(((j + 1) * c) / perTap);
      for (let k = from; k < to; k++) matrix[(offset + k) * dim + t * perTap + j] = 1 / (to - from);
    }
    offset += c;
  });
  return matrix;
}

/**
 * Taps -> patch features, with the reduction's matrix as a frozen 1x1 convolution. Every tap is
 * averaged over `localWindow` x `localWindow` neighbourhoods on its own grid (before upsampling).
 */
export function buildPatchFeatures(taps: readonly TapShape[], reduction: PatchReduction, dim: number, seed: number, localWindow = 3): PatchFeatureGraph {
  if (taps.length === 0) throw new Error('PatchCore needs at least one backbone tap');
  const problem = localWindowProblem(localWindow);
  if (problem !== undefined) throw new Error(`local window ${problem}`);
  const grid = square(taps[0].shape, `tap ${taps[0].name}`);
  const sides = taps.map((t) => square(t.shape, `tap ${t.name}`));
  const smallest = Math.min(...sides);
  if (localWindow > smallest) {
    const tap = taps[sides.indexOf(smallest)];
    throw new Error(`local window ${localWindow} is larger than the ${smallest}x${smallest} grid of tap ${tap.name}: choose at most ${smallest % 2 === 1 ? smallest : smallest - 1}, or a larger input size`);
  }
  const inputs = taps.map((t) => tf.input({ shape: t.shape, name: t.name }));
  const pooled = inputs.map((input, i) => {
    const side = sides[i];
    const local = localWindow === 1
      ? input
      : (tf.layers.averagePooling2d({ poolSize: localWindow, strides: 1, padding: 'same', name: `patchcore_local_${i}` }).apply(input) as tf.SymbolicTensor);
    if (side === grid) return local;
    const factor = grid / side;
    if (!Number.isInteger(factor) || factor < 1) throw new Error(`tap ${taps[i].name} (${side}x${side}) does not divide the first tap's grid ${grid}x${grid}: list the finest tap first`);
    return tf.layers.upSampling2d({ size: [factor, factor], interpolation: 'bilinear', name: `patchcore_resize_${i}` }).apply(local) as tf.SymbolicTensor;
  });
  const joined = pooled.length === 1 ? pooled[0] : (tf.layers.concatenate({ axis: -1, name: 'patchcore_concat' }).apply(pooled) as tf.SymbolicTensor);
  const tapChannels = taps.map((t) => t.shape[2]);
  const concatenated = tapChannels.reduce((a, b) => a + b, 0);
  const reduce = tf.layers.conv2d({ filters: dim, kernelSize: 1, useBias: false, trainable: false, name: 'patchcore_reduce' });
  const features = reduce.apply(joined) as tf.SymbolicTensor;
  reduce.setWeights([tf.tensor4d(reductionMatrix(reduction, tapChannels, dim, seed), [1, 1, concatenated, dim])]);
  return {
    inputs,
    features,
    model: tf.model({ inputs, outputs: features, name: 'patchcore_features' }),
    shape: { grid, tapChannels, concatenated, dim },
  };
}

/** The head the run folder keeps: taps -> patch features -> distance to the nearest bank entry [N, h, w, 1]. */
export function buildPatchCoreHead(features: PatchFeatureGraph, bank: Float32Array, bankSize: number): tf.LayersModel {
  const layer = new NearestNeighbourDistance({ bankSize, name: PATCH_DISTANCE_LAYER });
  const distance = layer.apply(features.features) as tf.SymbolicTensor;
  layer.setBank(bank);
  return tf.model({ inputs: features.inputs, outputs: distance, name: 'patchcore_head' });
}

export const PATCH_DISTANCE_LAYER = 'patchcore_nearest_distance';
