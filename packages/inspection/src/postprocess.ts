/**
 * From one image's model outputs to its verdict, exactly as the card says. Shared by both
 * runtimes so that a line PC and a browser score the same file identically.
 */
import type { ModelCard, OutputSpec } from '@residuum/scoring';
import type { ModelInputImage, ScalarMap } from './inspector.js';
import { anomalyMap, imageScore, isAnomalous, mcDropoutStatistics, normalizeScore, resizeMap } from '@residuum/scoring';

/** One output of one image (its batch row): values and the dims without the batch axis. */
export interface OutputSlice {
  data: Float32Array;
  dims: readonly number[];
}

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

/** The threshold in force: the override when given (checked), else the card's. */
export function resolveThreshold(card: ModelCard, override?: number): number {
  if (override === undefined) return card.threshold.value;
  if (typeof override !== 'number' || !Number.isFinite(override)) {
    throw new RangeError(`threshold must be a finite number, got ${String(override)}`);
  }
  return override;
}

/**
 * Scores one image. With several passes (MC-Dropout) the map is computed from the mean
 * reconstruction and `uncertainty` is the per-pixel variance of the reconstructions.
 */
export function scoreImage(
  card: ModelCard,
  input: ModelInputImage,
  passes: readonly PassOutputs[],
  options: ScoreOptions = {},
): ScoredImage {
  if (passes.length === 0) throw new RangeError('scoreImage: at least one pass of model outputs is needed');
  const threshold = resolveThreshold(card, options.threshold);
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
      // Channel reduction and smoothing at the model's resolution, then up to the input size.
      const reduced = anomalyMap(new Float32Array(0), slice.data, mapChannels, mapHeight, mapWidth, card.score.map);
      return mapHeight === height && mapWidth === width ? reduced : resizeMap(reduced, width, height, mapWidth, mapHeight);
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

function findOutput(card: ModelCard, meaning: OutputSpec['meaning']): OutputSpec | undefined {
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
