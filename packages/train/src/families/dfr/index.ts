// DFR (deep feature reconstruction) family: public surface of this folder.
export { trainDfr, dfrFamily, dfrPreprocessing, dfrScoreSpec, scoreDfrBatches, DFR_DEFAULTS, DFR_OUTPUT_NAME, type DfrTrainOptions, type DfrTrainResult, type DfrEpochRecord } from './train-dfr.js';
export { DEFAULT_BACKBONE, DEFAULT_BACKBONE_DIR, MOBILENET_V1_TAPS, loadBackbone, type BackboneSpec } from './backbone.js';
export { buildDfrGraph, buildDfrHeadOnTaps, buildFeatureExtractor, buildVectorAutoencoder, autoencoderWidths, standardizeFeatures, type FeatureStandardization, type DfrGraphShape, type FeatureExtractor } from './graph.js';
export { pcaLatentWidth, symmetricEigenvalues, componentsForVariance, covarianceMatrix } from './pca.js';
export { OnnxTapExtractor, buildTapAggregator, onnxBackbonePreprocessing, predictOnTaps, RESNET50_DFR_TAPS, type OnnxBackboneSpec, type TapShape } from './onnx-backbone.js';
export { DFR_SPLICED_FILE_BUDGET_BYTES, FEATURE_FILE_LIMIT_BYTES, autoencoderParameterCount, dfrHeadBytes, latentCapForBudget, varianceKept, type LatentCap } from './latent-budget.js';
