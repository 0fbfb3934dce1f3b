import type * as tf from '@tensorflow/tfjs';
import type { OutputSpec, ScoreSpec } from '@residuum/scoring';
import { buildConvAutoencoder } from '../cae/model.js';
import { checkCommonSpec, checkWidths, reconstructionOutput, residualScore, type CommonModelSpec } from '../autoencoder/common.js';

/**
 * Neighbour CAE: the CAE whose first layer is a NeighborConv2D (each pixel's first features
 * come from its 8 neighbours only, so the first layer cannot copy the pixel it reconstructs),
 * any number of input channels. Defaults: 64x64 grey, widths [32, 64, 128], MSE loss.
 */
export interface NcaeSpec extends CommonModelSpec {
  family: 'ncae';
  /** Widths per depth level; widths[0] is the NeighborConv2D's units. */
  widths: number[];
}

export const NCAE_DEFAULTS: Omit<NcaeSpec, 'family'> = { inputSize: 64, channels: 1, seed: 42, loss: 'mse', widths: [32, 64, 128] };

export function buildNcae(spec: NcaeSpec): tf.LayersModel {
  checkCommonSpec(spec, 'ncae', spec.widths?.length ?? 0);
  checkWidths(spec.widths, 'ncae');
  return buildConvAutoencoder(spec, 'neighbor', 'ncae');
}

/**
 * NCAE score: the squared residual map, image score = its mean. (The method's residual
 * statistics -- std, kurtosis, entropy, ... -- are computed from the same map by scoring.)
 */
export function ncaeScoreSpec(spec: NcaeSpec): ScoreSpec {
  return residualScore(spec.loss);
}

export function ncaeOutputs(spec: NcaeSpec): OutputSpec[] {
  return [reconstructionOutput(spec)];
}
