/**
 * From one image's model outputs (all its passes) to map, uncertainty, score and verdict, exactly
 * as the card says: the one definition of that path. Both runtimes call it, so that a line PC and
 * a browser score the same file identically, and the trainer's calibration calls it on the TF.js
 * model's outputs, so that the threshold is fitted on the score it judges.
 */
import type { ModelCard, OutputSpec } from '../card/model-card.js';
import { anomalyMap, mcDropoutStatistics } from '../maps/anomaly-map.js';
import { gaussianSmooth } from '../maps/gaussian.js';
import { isAnomalous } from '../metrics/verdict.js';
import { resizeMap } from '../preprocess/resample.js';
import { imageScore } from '../scores/image-score.js';
import { normalizeScore } from '../scores/normalize.js';
import type { TensorData } from './dropout-masks.js';

/** A single-channel map, row-major, height x width. */
export interface ScalarMap {
  data: Float32Array;
  width: number;
  height: number;
}

/** One image in the model's input space: CHW float32, already preprocessed per the card. */
export interface ModelInputImage {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** One output of one image (its batch row): values and the dims without the batch axis. */
export type OutputSlice = TensorData;

/** One stochastic (or the one deterministic) pass of the model for one image. */
export type PassOutputs = Record<string, OutputSlice>;

export interface ScoreOptions {
  /** Overrides card.threshold.value. */
  threshold?: number;
  returnMaps?: boolean;
}

export interface ScoredImage {
  score: number;
  normalizedScore: number;
  isAnomalous: boolean;
  threshold: number;
  map?: ScalarMap;
  reconstruction?: ModelInputImage;
  uncertainty?: ScalarMap;
}

/** What the card's score spec makes of one image's outputs, before any threshold. */
export interface ImageOutputsScore {
  score: number;
  /** The pixel anomaly map at the input size. */
  map: Float32Array;
  /** The (mean, with several passes) reconstruction, CHW, when the model outputs one. */
  reconstruction?: Float32Array;
  /** Per-pixel variance of the passes' reconstructions (MC-Dropout). */
  uncertainty?: Float32Array;
}

/** The parts of a card that turn outputs into a score (a trainer has these before any threshold). */
export type ScoringCard = Pick<ModelCard, 'outputs' | 'score'>;

/** The threshold in force: the override when given (checked), else the card's. */
export function resolveThreshold(card: ModelCard, override?: number): number {
  if (override === undefined) return card.threshold.value;
  if (typeof override !== 'number' || !Number.isFinite(override)) {
    throw new RangeError(`threshold must be a finite number, got ${String(override)}`);
  }
  return override;
}

/**
 * Scores and judges one image: scoreImageOutputs, then the threshold in force (card or override),
 * the normalized score and the one verdict rule.
 */
export function scoreImage(
  card: ModelCard,
  input: ModelInputImage,
  passes: readonly PassOutputs[],
  options: ScoreOptions = {},
): ScoredImage {
  const threshold = resolveThreshold(card, options.threshold);
  const { score, map, reconstruction, uncertainty } = scoreImageOutputs(card, input, passes);
  const { channels, height, width } = input;
  const scored: ScoredImage = {
    score,
    normalizedScore: normalizeScore(score, threshold, card.calibration),
    isAnomalous: isAnomalous(score, threshold),
    threshold,
  };
  if (options.returnMaps) {
    scored.map = { data: map, width, height };
    if (reconstruction) scored.reconstruction = { data: reconstruction, channels, height, width };
    if (uncertainty) scored.uncertainty = { data: uncertainty, width, height };
  }
  return scored;
}

/**
 * The map and score of one image from its outputs, all passes. With several passes (MC-Dropout)
 * the map is computed from the mean reconstruction and `uncertainty` is the per-pixel variance of
 * the reconstructions; a model's own map (DFR) and the discriminator residual (f-AnoGAN) are
 * averaged over the passes. score.map.positionStandardization and score.image.kappa apply here.
 */
export function scoreImageOutputs(card: ScoringCard, input: ModelInputImage, passes: readonly PassOutputs[]): ImageOutputsScore {
  if (passes.length === 0) throw new RangeError('scoreImage: at least one pass of model outputs is needed');
  const { channels, height, width } = input;
  const reconstructionSpec = findOutput(card, 'reconstruction');
  let reconstruction: Float32Array | undefined;
  let uncertainty: Float32Array | undefined;
  if (reconstructionSpec) {
    const reconstructions = passes.map((pass) => {
      const slice = requireSlice(pass, reconstructionSpec);
      if (slice.data.length !== input.data.length) {
        throw new RangeError(
          `output '${reconstructionSpec.name}' has ${slice.data.length} values per image, the input has ${input.data.length}`,
        );
      }
      return slice.data;
    });
    if (reconstructions.length === 1) reconstruction = reconstructions[0];
    else {
      const statistics = mcDropoutStatistics(reconstructions, channels, height, width, card.score.map.channelReduction);
      reconstruction = statistics.meanReconstruction;
      uncertainty = statistics.variance;
    }
  }

  let map: Float32Array;
  if (card.score.map.kind === 'model-output') {
    const mapSpec = findOutput(card, 'feature-error-map');
    if (!mapSpec) throw new RangeError("score.map.kind is 'model-output' but the card has no 'feature-error-map' output");
    const maps = passes.map((pass) => {
      const slice = requireSlice(pass, mapSpec);
      if (slice.dims.length < 2) {
        throw new RangeError(`output '${mapSpec.name}' must be a [C,] h, w map per image, got dims [${slice.dims.join(', ')}]`);
      }
      const [mapHeight, mapWidth] = slice.dims.slice(-2);
      const mapChannels = slice.data.length / (mapHeight * mapWidth);
      // Channel reduction (and smoothing, unless it is asked at the input size) at the model's
      // resolution, then up to the input size.
      const atInput = card.score.map.smoothingAt === 'input';
      const reduced = anomalyMap(new Float32Array(0), slice.data, mapChannels, mapHeight, mapWidth, atInput ? { ...card.score.map, smoothingSigma: 0 } : card.score.map);
      const upsampled = mapHeight === height && mapWidth === width ? reduced : resizeMap(reduced, width, height, mapWidth, mapHeight);
      return atInput && card.score.map.smoothingSigma > 0 ? gaussianSmooth(upsampled, height, width, card.score.map.smoothingSigma) : upsampled;
    });
    map = meanOf(maps);
  } else {
    if (!reconstruction) throw new RangeError(`score.map.kind '${card.score.map.kind}' needs a 'reconstruction' output`);
    // The converter's scoring head computed the same map in the graph; with several MC passes the
    // map is that of the mean reconstruction, which only JavaScript has.
    const graphMapSpec = passes.length === 1 ? findOutput(card, 'anomaly-map') : undefined;
    if (graphMapSpec) {
      const slice = requireSlice(passes[0], graphMapSpec);
      if (slice.data.length !== height * width) {
        throw new RangeError(`output '${graphMapSpec.name}' has ${slice.data.length} values per image, a ${width}x${height} map needs ${height * width}`);
      }
      map = slice.data;
    } else map = anomalyMap(input.data, reconstruction, channels, height, width, card.score.map);
  }

  const residualSpec = findOutput(card, 'discriminator-feature-residual');
  const discriminatorResidual = residualSpec
    ? passes.reduce((sum, pass) => sum + requireSlice(pass, residualSpec).data[0], 0) / passes.length
    : undefined;
  const score = imageScore(map, card.score.image, { discriminatorResidual });
  return { score, map, ...(reconstruction ? { reconstruction } : {}), ...(uncertainty ? { uncertainty } : {}) };
}

function findOutput(card: ScoringCard, meaning: OutputSpec['meaning']): OutputSpec | undefined {
  return card.outputs.find((output) => output.meaning === meaning);
}

function requireSlice(pass: PassOutputs, spec: OutputSpec): OutputSlice {
  const slice = pass[spec.name];
  if (!slice) throw new RangeError(`the model returned no output '${spec.name}' (${spec.meaning})`);
  return slice;
}

function meanOf(arrays: readonly Float32Array[]): Float32Array {
  if (arrays.length === 1) return arrays[0];
  const mean = new Float32Array(arrays[0].length);
  for (const array of arrays) for (let i = 0; i < mean.length; i++) mean[i] += array[i];
  for (let i = 0; i < mean.length; i++) mean[i] /= arrays.length;
  return mean;
}
