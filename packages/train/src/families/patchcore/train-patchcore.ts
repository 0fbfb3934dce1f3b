/**
 * PatchCore (Roth et al. 2022): no gradient training. The frozen backbone (an ONNX file run by
 * onnxruntime-node) gives locally aware patch features of the good images, a greedy k-center coreset
 * of them becomes the memory bank, and an image's anomaly map is each patch's distance to its
 * nearest bank entry, upsampled to the input size and Gaussian-smoothed; its score is the map's max.
 * It is not a reconstruction model: nothing is reconstructed, the map is a nearest-neighbour distance.
 *
 * The run folder holds the head (taps in -> patch features -> NearestNeighbourDistance, the bank a
 * non-trainable weight) as model.json + weights.bin, plus backbone.json; `residuum export` splices
 * head and backbone into one ONNX file. Calibration scores the validation images with that same
 * head (TF.js) through scoring's scoreImageOutputs, as the runtimes do.
 */
import * as tf from '@tensorflow/tfjs';
import { resolve } from 'node:path';
import { scoreImageOutputs, type ImageScoreSpec, type ModelCard, type OutputSpec, type PreprocessingSpec, type ScoreSpec } from '@residuum/scoring';
import { runRecipe, type EpochOutcome, type FamilyTraining, type FinishedModel, type RecipeOptions, type StepReport, type TrainingEnvironment, type TrainingFamily } from '../../recipe/recipe.js';
import { writeRunBackbone } from '../../run-folder/index.js';
import type { NhwcBatch } from '../../training/data.js';
import { saveModelToDir } from '../../training/model-io.js';
import { fractionIn, positiveInteger, positiveNumber } from '../../training/options.js';
import { OnnxTapExtractor, onnxBackbonePreprocessing, predictOnTaps, type OnnxBackboneSpec } from '../dfr/onnx-backbone.js';
import { collectVectors, sha256Of } from '../dfr/train-dfr.js';
import { greedyCoreset, type CoresetResult } from './coreset.js';
import { buildPatchCoreHead, buildPatchFeatures, localWindowProblem, PATCH_REDUCTIONS, type PatchFeatureGraph, type PatchFeatureShape, type PatchReduction } from './graph.js';

export interface PatchCoreTrainOptions extends RecipeOptions {
  /** The ONNX backbone (`residuum backbone get resnet50`); required: PatchCore runs on pretrained features. */
  backbone: OnnxBackboneSpec;
  /** Square input side (default 224, the size the backbone file was converted for). */
  size?: number;
  /** Backbone outputs used, finest first (default layer2, layer3: ResNet-50's middle stages). */
  layers?: string[];
  /** Patch feature width D after the reduction (default 256; with adaptive averaging a multiple of the tap count). */
  dim?: number;
  /**
   * Side k of the k x k neighbourhood every tap is averaged over before upsampling (odd, >= 1, at most
   * the coarsest tap's grid side; default 3, 1 = no averaging). Wider suits region-wide defects on
   * textured parts, 3 small local ones: see PATCHCORE_DEFAULTS.localWindow.
   */
  localWindow?: number;
  /** How the concatenated tap channels become D (default 'random-projection', seeded; 'adaptive-average' per tap is PatchCore's). */
  reduction?: PatchReduction;
  /** Memory bank entries at most (default 8192; fewer when there are fewer patches). */
  bankSize?: number;
  /** Training patches the greedy coreset chooses from at most, sampled evenly over the images (default 150000). */
  maxPatches?: number;
  /** Width of the coreset's random projection (default 128). */
  coresetProjection?: number;
  /** Gaussian sigma in input pixels, applied after upsampling the distance map (default 4, PatchCore's). */
  smoothingSigma?: number;
  /** Image score from the smoothed map (default: the mean of the whole map, see PATCHCORE_DEFAULTS). */
  imageScore?: ImageScoreSpec;
  /** Images per backbone forward pass (default 8). */
  featureBatch?: number;
  /** calibration.pixelThreshold: false-positive rate on good validation pixels (default 0.05). */
  pixelFpr?: number;
}

export const PATCHCORE_DEFAULTS = {
  size: 224,
  layers: ['layer2', 'layer3'] as readonly string[],
  dim: 256,
  // Issue #15's settings runs (packages/train/bench/patchcore-settings.ts; magnetic_tile, ResNet-50, 224 px,
  // layer2 + layer3, D 256, bank 8192 of 150k patches, 630 training images), per window k: image AUROC
  // (mean of the map) / recall at 1 % false alarms / pixel AUROC / AUPRO at FPR 0.3:
  //   k=3 0.970 / 0.82 / 0.836 / 0.784;  k=5 0.976 / 0.88 / 0.860 / 0.764;
  //   k=7 0.974 / 0.83 / 0.881 / 0.742;  k=9 0.974 / 0.75 / 0.889 / 0.685.
  // Wider windows lift the region-wide 'uneven' defects (pixel AUROC 0.854 -> 0.895 -> 0.923 -> 0.935 for
  // k 3 -> 9) and cost the small ones (blowhole AUPRO, crack): a per-part setting; 3 suits small local
  // defects (casting) and stays the default.
  localWindow: 3,
  // magnetic_tile, 224 px, D 256, bank 4096, top 1 %: image AUROC 0.907 / pixel 0.808 with the
  // projection against 0.892 / 0.781 with per-tap adaptive averaging (AUPRO 0.748 vs 0.753).
  reduction: 'random-projection' as PatchReduction,
  // The bank is the biggest lever on magnetic_tile (224 px, projection, top 1 %): 4096 of 99,540 patches
  // gave image AUROC 0.907 / pixel 0.808 / AUPRO 0.748, 8192 of 149,940 gave 0.913 / 0.825 / 0.763,
  // for 0.015 s more CPU per image (0.084 s in all) and a coreset of about 150 CPU seconds.
  bankSize: 8192,
  maxPatches: 150_000,
  coresetProjection: 128,
  // Sigma 8 px at 224 (twice PatchCore's 4): magnetic_tile pixel AUROC 0.832 -> 0.846 with the 8000-entry
  // bank, AUPRO unchanged (packages/train/bench/patchcore-settings.md).
  smoothingSigma: 8,
  // Issue #15's settings runs (ResNet-50, 224 px, layer2 + layer3, 256 dims): a top-k mean ranks
  // images better than the max (4000-entry bank: casting 0.979 -> 0.993, magnetic_tile 0.837 -> 0.901
  // at 1 %), and 5 % better than 1 % (casting, bank 6000: 0.9945 -> 0.9957, recall at 1 % false alarms
  // 0.90 -> 0.95; magnetic_tile, bank 8000: 0.883 -> 0.921); PatchCore's reweighting did not help.
  // With the 8000-entry bank of 150k patches, the mean of the whole map is the one score that meets
  // both image targets: casting 0.996 (top 5 %: 0.9969), magnetic_tile 0.963 (top 5 %: 0.933).
  imageScore: { kind: 'mean' } as ImageScoreSpec,
  featureBatch: 8,
  pixelFpr: 0.05,
};

export const PATCHCORE_OUTPUT_NAME = 'patch_distance';

/** What the card says about the local averaging of the taps (extras.patchcore.localPooling, shown by model-info and the dashboard). */
export function localPoolingText(localWindow: number): string {
  return localWindow === 1
    ? 'none (local window 1: each patch keeps its own tap features)'
    : `${localWindow}x${localWindow} average per tap, stride 1, same padding (padding cells not counted)`;
}

/** PatchCore's score: the model's own distance map, upsampled, then smoothed at the input size; the image score from that map. */
export function patchCoreScoreSpec(smoothingSigma: number = PATCHCORE_DEFAULTS.smoothingSigma, image: ImageScoreSpec = PATCHCORE_DEFAULTS.imageScore): ScoreSpec {
  return { map: { kind: 'model-output', channelReduction: 'mean', smoothingSigma, smoothingAt: 'input' }, image: { ...image } };
}

function patchCoreOutputs(grid: number, dim: number, bankSize: number): OutputSpec[] {
  return [
    {
      name: PATCHCORE_OUTPUT_NAME,
      meaning: 'feature-error-map',
      shape: ['N', 1, grid, grid],
      description: `Euclidean distance of each ${dim}-d patch feature to its nearest of ${bankSize} memory-bank entries on the ${grid}x${grid} patch grid (not a reconstruction error); upsample bilinearly to the input`,
    },
  ];
}

interface PatchCoreSettings {
  backbone: OnnxBackboneSpec;
  size: number;
  layers: string[];
  dim: number;
  localWindow: number;
  reduction: PatchReduction;
  bankSize: number;
  maxPatches: number;
  coresetProjection: number;
  smoothingSigma: number;
  imageScore: ImageScoreSpec;
  featureBatch: number;
  pixelFpr: number;
}

const OWNER = 'trainPatchCore: ';

function patchCoreSettings(options: PatchCoreTrainOptions): PatchCoreSettings {
  const backbone = options.backbone as OnnxBackboneSpec | undefined;
  if (backbone == null || typeof backbone.onnxPath !== 'string') {
    throw new Error(`${OWNER}an ONNX backbone is required (PatchCore runs on pretrained features): pass backbone, e.g. residuum backbone get resnet50`);
  }
  const layers = options.layers ?? [...PATCHCORE_DEFAULTS.layers];
  if (!Array.isArray(layers) || layers.length === 0 || layers.some((l) => typeof l !== 'string' || l === '')) throw new Error(`${OWNER}layers must name at least one backbone output`);
  const reduction = options.reduction ?? PATCHCORE_DEFAULTS.reduction;
  const localWindow = options.localWindow ?? PATCHCORE_DEFAULTS.localWindow;
  const windowProblem = localWindowProblem(localWindow);
  if (windowProblem !== undefined) throw new Error(`${OWNER}localWindow ${windowProblem}`);
  if (!PATCH_REDUCTIONS.includes(reduction)) throw new Error(`${OWNER}reduction must be one of ${PATCH_REDUCTIONS.join(', ')}, got ${String(reduction)}`);
  return {
    backbone,
    size: positiveInteger(options.size, 'size', PATCHCORE_DEFAULTS.size, OWNER),
    layers,
    dim: positiveInteger(options.dim, 'dim', PATCHCORE_DEFAULTS.dim, OWNER),
    localWindow,
    reduction,
    bankSize: positiveInteger(options.bankSize, 'bankSize', PATCHCORE_DEFAULTS.bankSize, OWNER),
    maxPatches: positiveInteger(options.maxPatches, 'maxPatches', PATCHCORE_DEFAULTS.maxPatches, OWNER),
    coresetProjection: positiveInteger(options.coresetProjection, 'coresetProjection', PATCHCORE_DEFAULTS.coresetProjection, OWNER),
    smoothingSigma: positiveNumber(options.smoothingSigma, 'smoothingSigma', PATCHCORE_DEFAULTS.smoothingSigma, OWNER, true),
    imageScore: options.imageScore ?? PATCHCORE_DEFAULTS.imageScore,
    featureBatch: positiveInteger(options.featureBatch, 'featureBatch', PATCHCORE_DEFAULTS.featureBatch, OWNER),
    pixelFpr: fractionIn(options.pixelFpr, 'pixelFpr', PATCHCORE_DEFAULTS.pixelFpr, 0, 1, OWNER),
  };
}

export interface PatchCoreExtra {
  shape?: PatchFeatureShape;
  /** Training patches the coreset chose from, and how many per image. */
  patches: number;
  patchesPerImage: number;
  bankSize: number;
  featureMs: number;
  coresetMs: number;
  coreset?: Pick<CoresetResult, 'distanceDim' | 'coverRadiusSquared' | 'note' | 'timings'>;
}

/** PatchCore as a recipe family: one stage, one pass (features of the training images, then the coreset). */
export const patchCoreFamily: TrainingFamily<PatchCoreTrainOptions, PatchCoreExtra> = {
  family: 'patchcore',
  check: (options) => void patchCoreSettings(options),
  preprocessing(options): PreprocessingSpec {
    const { backbone, size } = patchCoreSettings(options);
    return onnxBackbonePreprocessing(backbone, size);
  },
  plan: planPatchCore,
};

/** Counts batches into the progress bar; stops passing them on when a stop is requested. */
async function* reporting(batches: AsyncIterable<NhwcBatch>, report: StepReport): AsyncIterable<NhwcBatch> {
  let done = 0;
  for await (const batch of batches) {
    yield batch;
    if (report(++done, 0)) return;
  }
}

/** The calibration maps and scores of a batch stream, exactly as the runtimes compute them from the exported file's output. */
export async function scorePatchCoreBatches(
  mapsOf: (batch: NhwcBatch) => Promise<Float32Array>,
  batches: AsyncIterable<NhwcBatch>,
  card: { outputs: OutputSpec[]; score: ScoreSpec },
  inputSize: number,
  onMap?: (map: Float32Array, index: number) => void,
): Promise<number[]> {
  const [, , grid] = card.outputs[0].shape as [string, number, number, number];
  const plane = grid * grid;
  const input = { data: new Float32Array(0), channels: 3, height: inputSize, width: inputSize };
  const scores: number[] = [];
  for await (const batch of batches) {
    const maps = await mapsOf(batch);
    for (let i = 0; i < batch.count; i++) {
      const data = maps.slice(i * plane, (i + 1) * plane);
      const { map, score } = scoreImageOutputs(card, input, [{ [card.outputs[0].name]: { data, dims: [1, grid, grid] } }]);
      onMap?.(map, scores.length);
      scores.push(score);
    }
  }
  return scores;
}

async function planPatchCore(options: PatchCoreTrainOptions, env: TrainingEnvironment): Promise<FamilyTraining<PatchCoreExtra>> {
  const settings = patchCoreSettings(options);
  const { backbone, size, layers, dim, featureBatch } = settings;
  const { source, seed, log } = env;
  const extractor = await OnnxTapExtractor.open({ ...backbone, taps: layers }, size);
  let features: PatchFeatureGraph;
  try {
    features = buildPatchFeatures(extractor.taps, settings.reduction, dim, seed, settings.localWindow);
  } catch (error) {
    await extractor.dispose();
    throw error instanceof Error && !error.message.startsWith(OWNER) ? new Error(`${OWNER}${error.message}`, { cause: error }) : error;
  }
  const { shape } = features;
  const positions = shape.grid * shape.grid;
  const patchesPerImage = Math.max(1, Math.min(positions, Math.floor(settings.maxPatches / Math.max(1, source.trainCount))));
  log(
    `PatchCore: ${backbone.name} (ONNX, onnxruntime-node), taps ${layers.join(', ')} (${shape.tapChannels.join(' + ')} channels), ${settings.localWindow === 1 ? 'no local averaging' : `local average ${settings.localWindow}x${settings.localWindow}`} -> ${shape.grid}x${shape.grid} patches, ` +
      `${shape.concatenated} -> ${dim} (${settings.reduction}); ${patchesPerImage} of ${positions} patches per image, bank <= ${settings.bankSize}`,
  );
  const extra: PatchCoreExtra = { shape, patches: 0, patchesPerImage, bankSize: 0, featureMs: 0, coresetMs: 0 };
  let head: tf.LayersModel | undefined;
  const featuresOf = (batch: NhwcBatch): Promise<Float32Array> => predictOnTaps(extractor, features.model, batch);

  async function runEpoch(_epoch: number, report: StepReport): Promise<EpochOutcome | 'stopped'> {
    const start = Date.now();
    const train = await collectVectors(
      featuresOf,
      env.untilStopped(reporting(source.trainBatches(featureBatch, 0), report)),
      { featureGrid: shape.grid, featureChannels: dim },
      patchesPerImage,
      source.trainCount * patchesPerImage,
      seed,
    );
    if (env.stopRequested()) return 'stopped';
    if (train.count < 1) throw new Error(`${OWNER}${source.description}: no training images could be read`);
    extra.featureMs = Date.now() - start;
    extra.patches = train.count;
    log(`features: ${train.count} patches from ${train.images} images (${(extra.featureMs / 1000).toFixed(1)} s); greedy coreset of ${Math.min(settings.bankSize, train.count)}...`);
    // A stop during the selection keeps the picks so far: a smaller, still greedy bank (the card says interrupted).
    const coreset = await greedyCoreset(train.vectors, train.count, dim, { size: Math.min(settings.bankSize, train.count), projectionDim: settings.coresetProjection, seed, shouldStop: () => env.stopRequested() });
    extra.coresetMs = coreset.timings.projectionMs + coreset.timings.selectionMs;
    extra.coreset = { distanceDim: coreset.distanceDim, coverRadiusSquared: coreset.coverRadiusSquared, timings: coreset.timings, ...(coreset.note ? { note: coreset.note } : {}) };
    if (coreset.note) log(`coreset: ${coreset.note}`);
    const bankSize = coreset.indices.length;
    const bank = new Float32Array(bankSize * dim);
    coreset.indices.forEach((row, k) => bank.set(train.vectors.subarray(row * dim, (row + 1) * dim), k * dim));
    extra.bankSize = bankSize;
    head = buildPatchCoreHead(features, bank, bankSize);
    const coverRadius = Math.sqrt(coreset.coverRadiusSquared);
    return {
      loss: coverRadius,
      images: train.images,
      metrics: { patches: train.count, bankSize, coresetMs: extra.coresetMs },
      summary: `memory bank of ${bankSize} patches (greedy coreset of ${train.count} in ${(extra.coresetMs / 1000).toFixed(1)} s, cover radius ${coverRadius.toPrecision(4)} in the ${coreset.distanceDim}-d projection)`,
    };
  }

  async function finish(): Promise<FinishedModel | undefined> {
    const model = head;
    if (model === undefined) return undefined;
    const outputs = patchCoreOutputs(shape.grid, dim, extra.bankSize);
    const score = patchCoreScoreSpec(settings.smoothingSigma, settings.imageScore);
    return {
      async save(runDir) {
        await saveModelToDir(model, runDir);
        await writeRunBackbone(runDir, { kind: 'onnx', name: backbone.name, onnxPath: resolve(backbone.onnxPath), sha256: await sha256Of(backbone.onnxPath), taps: [...layers] });
      },
      validationScores: (onMap) => scorePatchCoreBatches((batch) => predictOnTaps(extractor, model, batch), source.validationBatches(featureBatch), { outputs, score }, size, onMap),
      pixelFpr: settings.pixelFpr,
      bestEpoch: 1,
      bestValLoss: Number.NaN,
      card: {
        name: `patchcore-${backbone.name}-${size}px`,
        description:
          `PatchCore memory bank on ${backbone.name} features (${layers.join(' + ')}), trained on ${source.description}. ` +
          'Not a reconstruction model: the anomaly map is each patch\'s distance to its nearest normal patch in the bank.',
        input: { name: 'input', layout: 'NCHW', shape: ['N', 3, size, size] },
        outputs,
        score,
        loss: 'none (no gradient training): greedy k-center coreset of normal patch features',
        extras: {
          patchcore: {
            reconstructionModel: false,
            backbone: { name: backbone.name, onnx: resolve(backbone.onnxPath), runtime: 'onnxruntime-node (spliced into the exported file)' },
            layers,
            tapChannels: shape.tapChannels,
            localWindow: settings.localWindow,
            localPooling: localPoolingText(settings.localWindow),
            grid: shape.grid,
            concatenatedChannels: shape.concatenated,
            dim,
            reduction: settings.reduction,
            reductionSeed: settings.reduction === 'random-projection' ? env.seed : null,
            bankSize: extra.bankSize,
            bankLimit: settings.bankSize,
            patches: extra.patches,
            patchesPerImage,
            coreset: { method: 'greedy k-center', projection: extra.coreset?.distanceDim, seconds: extra.coresetMs / 1000, coverRadius: Math.sqrt(extra.coreset?.coverRadiusSquared ?? 0) },
            distance: 'Euclidean, nearest bank entry',
            smoothing: `Gaussian sigma ${settings.smoothingSigma} px after upsampling to ${size}x${size}`,
            pixelThreshold: { fpr: settings.pixelFpr, on: 'good validation pixels' },
          },
        },
      },
    };
  }

  return {
    stages: [{ name: 'memory-bank', epochs: 1, stepsPerEpoch: Math.ceil(source.trainCount / featureBatch), runEpoch }],
    finish: async () => finish(),
    details: () => ({ patchcore: { ...extra } }),
    result: () => extra,
    async dispose() {
      // The head shares the feature layers (and their weights): disposing it releases both.
      (head ?? features.model).dispose();
      await extractor.dispose();
    },
  };
}

export interface PatchCoreTrainResult {
  runDir: string;
  completed: boolean;
  interrupted: boolean;
  cardPath?: string;
  card?: ModelCard;
  backend: string;
  patchcore: PatchCoreExtra;
  timings: { totalMs: number; trainMs: number; calibrationMs: number; imagesPerSecond: number };
}

/** Trains PatchCore into `options.out` through the shared recipe. */
export async function trainPatchCore(options: PatchCoreTrainOptions): Promise<PatchCoreTrainResult> {
  if (options == null || typeof options !== 'object') throw new Error(`${OWNER}options object required`);
  const result = await runRecipe(patchCoreFamily, options, OWNER);
  return {
    runDir: result.runDir,
    completed: result.completed,
    interrupted: result.interrupted,
    ...(result.card && result.cardPath ? { card: result.card, cardPath: result.cardPath } : {}),
    backend: result.backend,
    patchcore: result.extra,
    timings: result.timings,
  };
}
