// PatchCore family (memory bank of normal patch features): coreset selection, graphs, the recipe family.
export { greedyCoreset, gaussianProjection, type CoresetOptions, type CoresetResult } from './coreset.js';
export { buildPatchFeatures, buildPatchCoreHead, localWindowProblem, reductionMatrix, PATCH_REDUCTIONS, PATCH_DISTANCE_LAYER, type PatchReduction, type PatchFeatureShape, type PatchFeatureGraph } from './graph.js';
export {
  trainPatchCore,
  patchCoreFamily,
  patchCoreScoreSpec,
  scorePatchCoreBatches,
  PATCHCORE_DEFAULTS,
  PATCHCORE_OUTPUT_NAME,
  localPoolingText,
  type PatchCoreTrainOptions,
  type PatchCoreTrainResult,
  type PatchCoreExtra,
} from './train-patchcore.js';
