/**
 * The model card: everything a runtime needs to turn an image into a verdict with one
 * Residuum model. The trainer writes it (run folder, `model-card.json`), the converter
 * embeds it in the ONNX file's metadata_props (keys under `residuum.`), and both runtimes
 * read it back through `parseModelCard` / `modelCardFromMetadata`.
 *
 * Defined once, here, because the scoring package is the one module every other package
 * (trainer, converter, edge, browser) already depends on.
 */

export const MODEL_CARD_SCHEMA_VERSION = 1;

export type ModelFamily = 'cae' | 'ncae' | 'vae' | 'aesc' | 'fanogan' | 'dfr' | 'patchcore';

/** How the decoded 8-bit image becomes the model's float input. */
export interface PreprocessingSpec {
  /** Model input size in pixels. */
  width: number;
  height: number;
  /** 1 = grayscale (ITU-R BT.601 luma of RGB), 3 = RGB. */
  channels: 1 | 3;
  /**
   * Resize of the decoded image to width x height, done by the isomorphic resampler of
   * this package so that Node and browsers produce the same tensor:
   * - 'fill': stretch to the exact size (aspect ratio not kept);
   * - 'center-crop': scale the short side to fit, then crop the centre.
   */
  resize: 'fill' | 'center-crop';
  /** Resampling filter (separable, antialiased when downscaling). */
  interpolation: 'bilinear' | 'nearest';
  /**
   * value = (pixel / pixelDivisor - mean[c]) / std[c]; one entry per model channel, in model
   * channel order (so in B, G, R order when channelOrder is 'bgr').
   */
  mean: number[];
  std: number[];
  /**
   * Order of the colour channels in a 3-channel model input (default 'rgb'). Caffe-trained
   * backbones (the Keras ImageNet ResNet-50) take 'bgr'. Only valid with channels 3.
   */
  channelOrder?: ChannelOrder;
  /**
   * What the 8-bit pixel is divided by before mean and std apply (default 255: mean/std in
   * [0, 1] units). 1 keeps pixels in 0..255, as Caffe-style preprocessing does: BGR,
   * mean [103.939, 116.779, 123.68], std [1, 1, 1] is `preprocess_input(mode='caffe')` exactly.
   */
  pixelDivisor?: PixelDivisor;
}

export type ChannelOrder = 'rgb' | 'bgr';
export type PixelDivisor = 1 | 255;
export const CHANNEL_ORDERS: readonly ChannelOrder[] = ['rgb', 'bgr'];
export const PIXEL_DIVISORS: readonly PixelDivisor[] = [1, 255];

/**
 * The source RGB channel (0 = R, 1 = G, 2 = B) of model channel `channel`: the model's channel
 * order applied once, here, for every reader of the card (preprocessing, rendering).
 */
/** The 8-bit pixel value (unrounded) that model value `value` of model channel `channel` came from. */
export function modelValueToPixel(spec: Pick<PreprocessingSpec, 'mean' | 'std' | 'pixelDivisor'>, channel: number, value: number): number {
  return (value * spec.std[channel] + spec.mean[channel]) * (spec.pixelDivisor ?? 255);
}

export function sourceRgbChannel(spec: Pick<PreprocessingSpec, 'channels' | 'channelOrder'>, channel: number): number {
  return spec.channels === 3 && spec.channelOrder === 'bgr' ? 2 - channel : channel;
}

/** Graph input: always named `input`, NCHW float32, dynamic batch dimension. */
export interface InputSpec {
  name: string;
  layout: 'NCHW';
  /** [batch, channels, height, width]; batch is the string 'N' (dynamic). */
  shape: ['N', number, number, number];
}

export type OutputMeaning =
  | 'reconstruction' // same shape as input, in the model's normalized input space
  | 'latent-mean'
  | 'latent-log-variance'
  | 'feature-error-map' // the model's own per-position map, [N,1,h,w]: DFR's squared feature error, PatchCore's nearest-neighbour distance
  | 'anomaly-map' // score.map (not 'model-output') computed in the graph from input and reconstruction, [N,1,H,W]
  | 'discriminator-feature-residual' // f-AnoGAN: per-image feature residual, [N,1]
  | 'dropout-mask'; // MC-Dropout mask input/output placeholder

export interface OutputSpec {
  name: string;
  meaning: OutputMeaning;
  /** Dimensions; 'N' for the dynamic batch. */
  shape: Array<number | 'N'>;
  description?: string;
}

/** Pixel-level anomaly map from input and reconstruction. */
export interface AnomalyMapSpec {
  /** 'squared' | 'absolute' residual, '1-ssim' (Bergmann et al.), or a map the model outputs itself. */
  kind: 'squared' | 'absolute' | 'ssim' | 'model-output';
  /** How channels combine into one map. */
  channelReduction: 'mean' | 'max' | 'sum';
  /** Gaussian smoothing sigma in pixels; 0 = none. */
  smoothingSigma: number;
  /**
   * Where a 'model-output' map is smoothed: 'map' (default) at the model's own resolution, sigma in
   * map cells, before upsampling (DFR); 'input' after bilinear upsampling to the input size, sigma
   * in input pixels (PatchCore: sigma 4). Other kinds are computed at the input size anyway.
   */
  smoothingAt?: 'map' | 'input';
  /** SSIM window (Gaussian) size and sigma, when kind = 'ssim'. */
  ssimWindowSize?: number;
  ssimSigma?: number;
  /** SSIM dynamic range L of the model's input space (c1 = (0.01 L)^2, c2 = (0.03 L)^2); default 1. */
  ssimDynamicRange?: number;
  /** Per-position standardization fitted on normal images, applied after channel reduction, before smoothing. */
  positionStandardization?: PositionStandardization;
}

/**
 * z = (v - mean[p]) / scale[p] at each map position p (row-major, at the map's own resolution).
 * For aligned parts, where some positions (borders, part edges) are noisy on every good image:
 * standardizing them lets a small defect elsewhere stand out against its own normal spread.
 */
export interface PositionStandardization {
  width: number;
  height: number;
  mean: number[];
  /** Standard deviation plus a floor (a fraction of the mean std), so quiet positions do not explode. */
  scale: number[];
  /** What it was fitted on, e.g. "500 normal training images". */
  fittedOn: string;
}

/** Image score from the anomaly map. */
export interface ImageScoreSpec {
  kind: 'mean' | 'max' | 'top-k-mean';
  /** For 'top-k-mean': k as a fraction of the map's pixels (0..1]. */
  topKFraction?: number;
  /** f-AnoGAN: score = map score + kappa * discriminator feature residual. */
  kappa?: number;
}

export interface ScoreSpec {
  map: AnomalyMapSpec;
  image: ImageScoreSpec;
}

export type ThresholdMethod = 'quantile' | 'mean-std' | 'target-fpr' | 'target-recall' | 'f1-optimal' | 'manual';

export interface ThresholdSpec {
  value: number;
  method: ThresholdMethod;
  /** Method parameters, e.g. { q: 0.99 }, { k: 3 }, { fpr: 0.01, level: 'image' }. */
  params: Record<string, number | string>;
  /** What it was fitted on: how many scores, normal/anomalous counts, and where they came from. */
  fittedOn: { count: number; normal: number; anomalous: number; source: string };
  /** Set when the fit met a degenerate case (all scores equal, no anomalies, ...). */
  note?: string;
}

/** Score statistics of the calibration (validation, normal-only) set. */
export interface CalibrationStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  /** Quantiles of the normal scores, keyed by probability as a string, e.g. "0.99". */
  quantiles: Record<string, number>;
  /** Pixel-level segmentation threshold (e.g. DFR: target FPR on good pixels), when fitted. */
  pixelThreshold?: number;
}

export interface McDropoutSpec {
  /** Number of stochastic passes the runtimes run (default 30). */
  samples: number;
  /** Graph inputs carrying the dropout masks (one per Dropout layer), fed by the runtime. */
  maskInputs: Array<{ name: string; shape: Array<number | 'N'>; rate: number }>;
  /**
   * Seed of the masks of the stochastic passes (see createPassMasks), so calibration and every
   * runtime draw the same ones. Absent in cards written before it existed: DEFAULT_MC_DROPOUT_SEED.
   */
  seed?: number;
}

export interface TrainingProvenance {
  /** sha256 over the sorted list of (relative path, byte size, content sha256) of training files. */
  dataFingerprint: string;
  dataDescription: string;
  imageCount: number;
  epochs: number;
  seed: number;
  backend: string;
  loss: string;
  /** The exact command that produced the model, when known. */
  command?: string;
  /**
   * Set when the training was stopped (Ctrl-C) before its planned end: the model is the best one so
   * far and this says why and after how many epochs. Absent for a training that ran to its end.
   */
  interrupted?: string;
}

export interface ModelCard {
  schemaVersion: typeof MODEL_CARD_SCHEMA_VERSION;
  family: ModelFamily;
  name: string;
  description?: string;
  preprocessing: PreprocessingSpec;
  input: InputSpec;
  outputs: OutputSpec[];
  score: ScoreSpec;
  threshold: ThresholdSpec;
  calibration: CalibrationStats;
  mcDropout?: McDropoutSpec;
  training: TrainingProvenance;
  /** ISO 8601. */
  createdAt: string;
  producer: { trainer?: string; converter?: string };
  /** Family-specific extras (e.g. DFR backbone and taps); must be JSON. */
  extras?: Record<string, unknown>;
}

/** Keys used in ONNX metadata_props. Every value is a JSON string. */
export const METADATA_PREFIX = 'residuum.';
