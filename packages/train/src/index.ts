// The one training recipe (what `residuum train` calls) and the families that plug into it.
export { trainModel, FAMILY_FEATURES, type TrainModelOptions, type FamilyFeatures } from './recipe/families.js';
export {
  runRecipe,
  type RecipeOptions,
  type RecipeResult,
  type TrainingFamily,
  type FamilyTraining,
  type TrainingStage,
  type EpochOutcome,
  type FinishedModel,
  type TrainingEnvironment,
  type StepReport,
} from './recipe/recipe.js';
// Run folders: also `@residuum/train/run-folder`, which does not load TensorFlow.js.
export { RUN_FILES, RUN_FOLDER_VERSION, readRunFolder, readRunHistory, type RunFolder, type RunHistory, type HistoryEpoch } from './run-folder/index.js';
// CAE, NCAE, VAE, AESc (one family module: they differ by model spec).
export { train, autoencoderFamily, trainingPreprocessing, type TrainOptions, type TrainResult, type ModelOptions } from './families/autoencoder/train.js';
export { parseThresholdOption, DEFAULT_THRESHOLD, scoreImages, type ThresholdOption } from './training/calibration.js';
export type { EpochRecord } from './training/checkpoint.js';
export { createDatasetSource, createMemorySource, type TrainingDataSource, type NhwcBatch, type DatasetLayout } from './training/data.js';
export { saveModelToDir, loadModelFromDir } from './training/model-io.js';
export { InThreadEngine, type StepEngine, type NamedWeight, type AdamSettings, type OptimizerState } from './training/step-engine.js';

// Model families: spec types with documented defaults, builders, the score each should use.
export { buildCae, CAE_DEFAULTS, caeScoreSpec, type CaeSpec } from './families/cae/model.js';
export { buildNcae, NCAE_DEFAULTS, ncaeScoreSpec, type NcaeSpec } from './families/ncae/model.js';
export { buildAesc, AESC_DEFAULTS, AESC_DEFAULT_DROPOUT_RATES, aescScoreSpec, aescMcDropoutSpec, type AescSpec } from './families/aesc/model.js';
export { buildVae, VAE_DEFAULTS, vaeScoreSpec, type VaeSpec } from './families/vae/model.js';
export {
  resolveModelSpec,
  buildModel,
  defaultScoreSpec,
  modelOutputs,
  modelMcDropout,
  TRAINABLE_FAMILIES,
  type ModelSpec,
  type PartialModelSpec,
  type TrainableFamily,
} from './families/autoencoder/spec.js';
export { createTrainable, type Trainable } from './families/autoencoder/trainable.js';
export { RECONSTRUCTION_LOSSES, type ReconstructionLoss } from './losses/losses.js';

// Custom layers (registered with tf.serialization on import).
export { NeighborConv2D, McDropout, VaeSampling, NearestNeighbourDistance, setMcDropout, NEIGHBOR_OFFSETS } from './layers/index.js';

// Stain noise (AESc training corruption).
export { applyStainNoise, createStain, type Stain, type StainOptions } from './noise/stain.js';

// Backend selection (src/backend).
export { initBackend, BackendUnavailableError, BACKEND_REQUESTS, type BackendRequest, type BackendSelection } from './backend/index.js';

// Data-parallel training engine (src/engine): worker_threads with gradient averaging.
export { createDataParallelEngine, createLocalEngine, type DataParallelEngine, type DataParallelOptions, type TrainingEngine } from './engine/index.js';

// DFR family (src/families/dfr): frozen pretrained backbone features, 1x1-conv autoencoder.
export { trainDfr, dfrFamily, dfrPreprocessing, scoreDfrBatches, DFR_DEFAULTS, DEFAULT_BACKBONE, DFR_SPLICED_FILE_BUDGET_BYTES, FEATURE_FILE_LIMIT_BYTES, type DfrTrainOptions, type DfrTrainResult, type BackboneSpec } from './families/dfr/index.js';
// DFR on an ONNX backbone run by onnxruntime-node (ResNet-50 from `residuum backbone get resnet50`); export splices head + backbone.
export { OnnxTapExtractor, buildTapAggregator, onnxBackbonePreprocessing, predictOnTaps, RESNET50_DFR_TAPS, type OnnxBackboneSpec, type TapShape } from './families/dfr/index.js';

// f-AnoGAN family (src/families/fanogan): WGAN-GP generator/critic and an izi_f encoder.
export {
  trainFanogan,
  fanoganFamily,
  fanoganPreprocessing,
  scoreFanoganBatches,
  FANOGAN_DEFAULTS,
  type FanoganArchitecture,
  type FanoganTrainOptions,
  type FanoganTrainResult,
} from './families/fanogan/index.js';

// PatchCore family (src/families/patchcore): memory bank (greedy k-center coreset) of ONNX-backbone patch features, nearest-neighbour distance map.
export {
  greedyCoreset,
  gaussianProjection,
  trainPatchCore,
  patchCoreFamily,
  patchCoreScoreSpec,
  scorePatchCoreBatches,
  PATCHCORE_DEFAULTS,
  PATCHCORE_OUTPUT_NAME,
  PATCH_REDUCTIONS,
  localWindowProblem,
  type CoresetOptions,
  type CoresetResult,
  type PatchCoreTrainOptions,
  type PatchCoreTrainResult,
  type PatchReduction,
} from './families/patchcore/index.js';
