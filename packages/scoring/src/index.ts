// Model card (the contract every package shares).
export * from './card/model-card.js';

// Preprocessing: decoded 8-bit image -> model input, and map/mask resizing.
export type { RawImage } from './preprocess/raw-image.js';
export { preprocessImage, centerCropBox } from './preprocess/preprocess.js';
export { resizeMap, resizeMaskNearest, binarizeMask, resamplePlane } from './preprocess/resample.js';
export type { ResampleFilter, SourceBox } from './preprocess/resample.js';

// Card validation and the ONNX metadata round trip.
export { validateModelCard, parseModelCard, modelCardToMetadata, modelCardFromMetadata, ModelCardError, METADATA_KEYS } from './card/validate.js';

// Colour: viridis heatmaps and overlays (RGBA, isomorphic).
export { colorizeMap, overlayHeatmap, overlayMapRgb, type ColorRange } from './color/colormap.js';
export { VIRIDIS_RGB } from './color/viridis.js';
export { heatScaleMax } from './color/heat-scale.js';

// Anomaly maps.
export { anomalyMap, reduceChannels, ssimMap, standardizePositions, fitPositionStandardization, mcDropoutStatistics, type SsimOptions, type McDropoutStatistics } from './maps/anomaly-map.js';
export { gaussianSmooth, gaussianKernel, reflectIndices, smoothingRadius } from './maps/gaussian.js';

// Constants the trainer, the converter's graph and the runtimes must agree on.
export { SSIM_DEFAULTS, ssimStabilizers, NEIGHBOR_OFFSETS } from './conventions.js';

// Image scores, NCAE residual statistics, calibration and normalization.
export { imageScore, residualStatistics, RESIDUAL_ENTROPY_BINS, type ImageScoreExtras, type ResidualStatistics } from './scores/image-score.js';
export { normalizeScore, normalizationUpperAnchor, calibrationStats, DEFAULT_CALIBRATION_QUANTILES } from './scores/normalize.js';

// One image's model outputs (all MC-Dropout passes) -> map, uncertainty, score and verdict; the
// seeded MC-Dropout masks every runtime and the trainer's calibration feed.
export { scoreImage, scoreImageOutputs, resolveThreshold } from './outputs/score-outputs.js';
export type { ImageOutputsScore, ModelInputImage, OutputSlice, PassOutputs, ScalarMap, ScoreOptions, ScoredImage, ScoringCard } from './outputs/score-outputs.js';
export { createPassMasks, createSeededRandom, makeDropoutMasks, mcDropoutSeed, mcPassCount, DEFAULT_MC_DROPOUT_SEED } from './outputs/dropout-masks.js';
export type { PassMasks, RandomSource, TensorData } from './outputs/dropout-masks.js';

// Thresholds (score >= threshold is anomalous).
export { quantileThreshold, meanStdThreshold, targetFprThreshold, f1OptimalThreshold, manualThreshold } from './thresholds/thresholds.js';

// Metrics.
export {
  rocCurve,
  auroc,
  prCurve,
  averagePrecision,
  confusionAtThreshold,
  f1Max,
  thresholdCounts,
  type BinaryLabels,
  type RocCurve,
  type PrCurve,
  type ConfusionAtThreshold,
  type F1Max,
  type ThresholdCounts,
} from './metrics/binary.js';
export { pixelAuroc, proCurve, aupro, labelConnectedComponents, type SegmentationSample, type ProCurve } from './metrics/pixel.js';

// Operating points, exact intervals and the one verdict rule (score >= threshold is anomalous).
export { isAnomalous } from './metrics/verdict.js';
export { clopperPearson, trialsForUpperBound, betaQuantile, regularizedBeta, type ProportionInterval } from './metrics/intervals.js';
export {
  operatingPoints,
  recallAtFalseAlarmRate,
  falseAlarmRateAtRecall,
  verdictCounts,
  describeVerdictCounts,
  STANDARD_FALSE_ALARM_RATES,
  STANDARD_RECALLS,
  type OperatingPoint,
  type OperatingPoints,
  type VerdictCounts,
} from './metrics/operating-points.js';
export { scoreRange, type ScoreRange } from './card/score-range.js';
export { RUN_BACKBONE_FILE, type RunBackboneFile } from './card/run-backbone.js';

// Calibration of the image threshold by a policy (residuum calibrate, the dashboard).
export {
  calibrateThreshold,
  expectationAt,
  withCalibratedThreshold,
  CalibrationSetError,
  type CalibrationPolicy,
  type CalibrationSetName,
  type CalibrationExpectation,
  type CalibrationOutcome,
  type CalibrationRecord,
} from './thresholds/calibrate.js';
export { IMAGE_SET_FINGERPRINT_RULE, sha256Hex, fingerprintLine, fingerprintFromLines, fingerprintEntries, relativeToCommonFolder, type FingerprintEntry } from './card/fingerprint.js';
