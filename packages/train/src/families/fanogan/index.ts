// f-AnoGAN (WGAN-GP DCGAN + izi_f encoder) family: public surface of this folder.
export {
  trainFanogan,
  fanoganFamily,
  fanoganPreprocessing,
  fanoganScoreSpec,
  scoreFanoganBatches,
  meanPairwiseDistance,
  FANOGAN_DEFAULTS,
  COLLAPSE_LIMIT,
  type FanoganTrainOptions,
  type FanoganTrainResult,
  type GanEpochRecord,
  type EncoderEpochRecord,
} from './train-fanogan.js';
export {
  buildGenerator,
  buildCritic,
  buildEncoder,
  buildInferenceGraph,
  RECONSTRUCTION_OUTPUT,
  FEATURE_RESIDUAL_OUTPUT,
  type FanoganArchitecture,
} from './networks.js';
export { registerComparisonGradients } from './second-order.js';
