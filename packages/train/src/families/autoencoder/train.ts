/**
 * The reconstruction-autoencoder families (CAE, NCAE, VAE, AESc) on the shared recipe: Adam through a
 * StepEngine (in-thread, or the data-parallel worker engine), seeded, validation loss per epoch, early
 * stopping and reduce-LR-on-plateau, a checkpoint every epoch with --resume. The recipe does the
 * rest (data, run folder, Ctrl-C, progress, history, calibration, card). TrainOptions mirror
 * `residuum train` flags one to one.
 */
import * as tf from '@tensorflow/tfjs';
import type { PreprocessingSpec, ThresholdSpec } from '@residuum/scoring';
import { RECONSTRUCTION_LOSSES, type ReconstructionLoss } from '../../losses/losses.js';
import { createTrainable, lossOfOutputs, type Trainable } from './trainable.js';
import {
  defaultScoreSpec,
  modelMcDropout,
  modelOutputs,
  resolveModelSpec,
  TRAINABLE_FAMILIES,
  usesStainNoise,
  type ModelSpec,
  type PartialModelSpec,
  type TrainableFamily,
} from './spec.js';
import { applyStainNoise } from '../../noise/stain.js';
import { createRandom } from '../../random.js';
import { runRecipe, squarePreprocessing, type EpochOutcome, type FamilyTraining, type RecipeOptions, type TrainingEnvironment, type TrainingFamily } from '../../recipe/recipe.js';
import type { HistoryEpoch } from '../../run-folder/index.js';
import type { BackendRequest } from '../../backend/index.js';
import { scoreImages } from '../../training/calibration.js';
import { findCheckpoint, readCheckpoint, writeCheckpoint, type EpochRecord, type TrainingState } from '../../training/checkpoint.js';
import type { TrainingDataSource } from '../../training/data.js';
import { saveModelToDir } from '../../training/model-io.js';
import { positiveInteger } from '../../training/options.js';
import { InThreadEngine, readModelWeights, writeModelWeights, type NamedWeight, type StepEngine } from '../../training/step-engine.js';

/** `residuum train` flags for the autoencoder families; data, run folder, seed, threshold, Ctrl-C: see RecipeOptions. */
export interface TrainOptions extends RecipeOptions {
  /** --model */
  model: TrainableFamily;
  /** --size: square model input side; default per family (CAE 128, NCAE 64, AESc 128, VAE 64). */
  size?: number;
  /** --channels: 1 (grey, default) or 3. */
  channels?: 1 | 3;
  /** --epochs, default 50 (early stopping usually ends sooner). */
  epochs?: number;
  /** --batch, default 16. */
  batch?: number;
  /** --loss, default 'mse'. */
  loss?: ReconstructionLoss;
  /** --resume: continue from RUN_DIR/checkpoint. */
  resume?: boolean;
  /** --workers: data-parallel worker threads; 0 or 1 = train on the calling thread (default). */
  workers?: number;
  /** --lr, Adam's initial learning rate, default 1e-3. */
  learningRate?: number;
  /** --patience: epochs without validation improvement before stopping, default 5. */
  patience?: number;
  /** Epochs without improvement before the learning rate is halved, default 2 (so it acts before early stopping). */
  lrPatience?: number;
  /** Architecture overrides (widths, latentDim, dropoutRates, beta, ...). */
  modelOptions?: ModelOptions;
  /** Caps the steps of each epoch (quick checks). */
  maxStepsPerEpoch?: number;
  /** Called after each completed epoch (after its checkpoint). */
  onEpoch?: (record: EpochRecord) => void;
}

/** Architecture fields of the families (each family uses the ones it has; see the spec types). */
export interface ModelOptions {
  widths?: number[];
  /** VAE */
  latentDim?: number;
  /** VAE: weight of the KL term. */
  beta?: number;
  /** AESc: MC-Dropout rate per depth. */
  dropoutRates?: number[];
  /** AESc: stochastic passes at inference. */
  mcSamples?: number;
  /** AESc: LeakyReLU slope. */
  leakyAlpha?: number;
}

export interface TrainResult {
  runDir: string;
  /** False when stopped by Ctrl-C / signal: the best model so far and its card (training.interrupted) are written when an epoch was completed, and the checkpoint is kept for --resume. */
  completed: boolean;
  interrupted: boolean;
  /** Epochs completed in total (including those before a resume). */
  epochsRun: number;
  stoppedEarly: boolean;
  bestEpoch: number;
  bestValLoss: number;
  threshold?: ThresholdSpec;
  cardPath?: string;
  backend: string;
  /** Worker threads of the data-parallel engine; 0 = trained on the calling thread. */
  workers: number;
  history: EpochRecord[];
  timings: { totalMs: number; trainMs: number; calibrationMs: number; imagesPerSecond: number };
}

const DEFAULTS = { epochs: 50, batch: 16, seed: 42, loss: 'mse' as ReconstructionLoss, learningRate: 1e-3, patience: 5, lrPatience: 2 };
const LR_FACTOR = 0.5;
/** Reduce-on-plateau never goes below this fraction of the initial learning rate. */
const MIN_LEARNING_RATE_FRACTION = 1e-3;
/** Relative improvement the validation loss must make to count as better. */
const MIN_RELATIVE_IMPROVEMENT = 1e-4;


function checkOptions(options: TrainOptions): void {
  if (!TRAINABLE_FAMILIES.includes(options.model)) {
    throw new Error(`--model must be one of ${TRAINABLE_FAMILIES.join(', ')}, got '${String(options.model)}'`);
  }
  if (options.channels !== undefined && options.channels !== 1 && options.channels !== 3) {
    throw new Error(`--channels must be 1 or 3, got ${String(options.channels)}`);
  }
  if (options.loss !== undefined && !RECONSTRUCTION_LOSSES.includes(options.loss)) {
    throw new Error(`--loss must be one of ${RECONSTRUCTION_LOSSES.join(', ')}, got '${String(options.loss)}'`);
  }
  const lr = options.learningRate ?? DEFAULTS.learningRate;
  if (!(lr > 0 && Number.isFinite(lr))) throw new Error(`learning rate must be a positive number, got ${lr}`);
  if (options.workers !== undefined && (!Number.isInteger(options.workers) || options.workers < 0)) {
    throw new Error(`--workers must be an integer >= 0, got ${options.workers}`);
  }
}

/** The preprocessing every family trains with: fill-resize, bilinear, values in [0, 1] (sigmoid outputs). */
export function trainingPreprocessing(size: number, channels: 1 | 3): PreprocessingSpec {
  return squarePreprocessing(size, channels, 0, 1);
}

interface DataParallelModule {
  createDataParallelEngine?: (config: {
    workers: number;
    factory: { moduleUrl: string; exportName: string; spec: unknown };
    optimizer: { learningRate: number };
    backend: BackendRequest;
  }) => Promise<StepEngine>;
}

async function createEngine(options: TrainOptions, spec: ModelSpec, main: Trainable, learningRate: number): Promise<{ engine: StepEngine; workers: number }> {
  const workers = options.workers ?? 0;
  if (workers <= 1) return { engine: new InThreadEngine(main, { learningRate }), workers: 0 };
  // Variable specifier: the worker engine is optional in this package's build.
  const engineSpecifier = '../../engine/index.js';
  const engineModule = (await import(engineSpecifier)) as DataParallelModule;
  if (typeof engineModule.createDataParallelEngine !== 'function') {
    throw new Error('--workers > 1 needs the data-parallel engine (src/engine), which is not available in this build');
  }
  const here = import.meta.url;
  // Workers import the factory: the .ts source under vitest/tsx, the built .js otherwise.
  const factoryUrl = new URL(here.endsWith('.ts') ? './trainable.ts' : './trainable.js', here).href;
  const engine = await engineModule.createDataParallelEngine({
    workers,
    factory: { moduleUrl: factoryUrl, exportName: 'createTrainable', spec },
    optimizer: { learningRate },
    backend: options.backend ?? 'auto',
  });
  return { engine, workers };
}


async function validationLoss(main: Trainable, spec: ModelSpec, source: TrainingDataSource, batchSize: number, seed: number): Promise<number> {
  const side = spec.inputSize;
  const random = createRandom(seed + 7777);
  let total = 0;
  let count = 0;
  for await (const batch of source.validationBatches(batchSize)) {
    const shape: [number, number, number, number] = [batch.count, side, side, spec.channels];
    const inputs = usesStainNoise(spec) ? applyStainNoise(batch.data, shape, random).data : batch.data;
    const value = tf.tidy(() => {
      const x = tf.tensor4d(inputs, shape);
      const y = tf.tensor4d(batch.data, shape);
      return lossOfOutputs(spec, main.model.apply(x, { training: false }) as tf.Tensor | tf.Tensor[], y).dataSync()[0];
    });
    total += value * batch.count;
    count += batch.count;
  }
  if (count === 0) throw new Error('validation set is empty (every validation image failed to load?)');
  return total / count;
}

function copyWeights(weights: readonly NamedWeight[]): NamedWeight[] {
  return weights.map((w) => ({ name: w.name, shape: w.shape.slice(), data: new Float32Array(w.data) }));
}

function toHistoryEpoch(record: EpochRecord): HistoryEpoch {
  return { stage: 'train', ...record };
}

function resolveSpec(options: TrainOptions): ModelSpec {
  return resolveModelSpec({
    ...(options.modelOptions ?? {}),
    family: options.model,
    inputSize: options.size,
    channels: options.channels,
    seed: options.seed ?? DEFAULTS.seed,
    loss: options.loss ?? DEFAULTS.loss,
  } as PartialModelSpec);
}

interface AutoencoderExtra {
  workers: number;
  history: EpochRecord[];
}

/** CAE, NCAE, VAE and AESc as one recipe family: they differ only in the model spec. */
export function autoencoderFamily(model: TrainableFamily): TrainingFamily<TrainOptions, AutoencoderExtra> {
  return {
    family: model,
    check: checkOptions,
    preprocessing: (options) => {
      const spec = resolveSpec(options);
      return trainingPreprocessing(spec.inputSize, spec.channels);
    },
    async checkRunFolder(runDir, options) {
      const existing = await findCheckpoint(runDir);
      if (existing !== null && !options.resume) throw new Error(`${runDir} already holds a checkpoint: pass --resume to continue it, or choose another --out`);
      if (existing === null && options.resume) throw new Error(`--resume: no checkpoint in ${runDir}`);
    },
    plan: planAutoencoder,
  };
}

async function planAutoencoder(options: TrainOptions, env: TrainingEnvironment): Promise<FamilyTraining<AutoencoderExtra>> {
  const { runDir, source, seed, log } = env;
  const batchSize = positiveInteger(options.batch, '--batch', DEFAULTS.batch);
  const epochs = positiveInteger(options.epochs, '--epochs', DEFAULTS.epochs);
  const patience = positiveInteger(options.patience, 'patience', DEFAULTS.patience);
  const lrPatience = positiveInteger(options.lrPatience, 'lrPatience', DEFAULTS.lrPatience);
  const initialLearningRate = options.learningRate ?? DEFAULTS.learningRate;
  const spec = resolveSpec(options);
  const main = createTrainable(spec);
  let state: TrainingState = {
    version: 1,
    spec,
    epochsCompleted: 0,
    learningRate: initialLearningRate,
    bestValLoss: Number.POSITIVE_INFINITY,
    bestEpoch: -1,
    epochsWithoutImprovement: 0,
    epochsSinceLrChange: 0,
    history: [],
    hasOptimizerState: false,
  };
  let bestWeights: NamedWeight[] = readModelWeights(main.model);
  const { engine, workers } = await createEngine(options, spec, main, state.learningRate).catch((error: unknown) => {
    main.model.dispose();
    throw error;
  });
  if (workers > 1) log(`data-parallel training on ${workers} worker threads`);
  const syncsModel = engine instanceof InThreadEngine;
  const dispose = async (): Promise<void> => {
    await engine.dispose();
    main.model.dispose();
  };
  const existing = options.resume ? await findCheckpoint(runDir) : null;
  if (existing !== null) {
    try {
      const checkpoint = await readCheckpoint(existing);
      if (JSON.stringify(checkpoint.state.spec) !== JSON.stringify(spec)) {
        throw new Error(
          `--resume: the checkpoint in ${existing} was trained with a different model spec (${JSON.stringify(checkpoint.state.spec)}); use the same --model/--size/--channels/--seed/--loss`,
        );
      }
      state = checkpoint.state;
      bestWeights = checkpoint.bestWeights;
      writeModelWeights(main.model, checkpoint.currentWeights);
      if (!syncsModel) {
        if (engine.setWeights === undefined) throw new Error('--resume with --workers needs an engine that can set weights; resume without --workers');
        await engine.setWeights(checkpoint.currentWeights);
      }
      await engine.setLearningRate(state.learningRate);
      if (checkpoint.optimizerState === null) {
        log('resume: the checkpoint holds no optimizer state; Adam restarts from zero moments');
      } else if (engine.setOptimizerState === undefined) {
        log('resume: Adam moments are not restored (this engine does not expose them); Adam restarts from zero moments');
      } else {
        try {
          await engine.setOptimizerState(checkpoint.optimizerState);
        } catch (error) {
          throw new Error(`--resume: the optimizer state in ${existing} does not fit this model (damaged checkpoint?): ${(error as Error).message}`);
        }
      }
      log(`resumed after epoch ${state.epochsCompleted} (best val loss ${state.bestValLoss.toPrecision(4)} at epoch ${state.bestEpoch})`);
    } catch (error) {
      await dispose();
      throw error;
    }
  }
  const earlierEpochs = state.history.map(toHistoryEpoch);
  const side = spec.inputSize;

  async function runEpoch(epochNumber: number, report: (steps: number, loss: number) => boolean): Promise<EpochOutcome | 'stopped'> {
    const epoch = epochNumber - 1;
    const epochStart = Date.now();
    const stainRandom = createRandom(seed + 7919 * (epoch + 1));
    const stepsPerEpoch = Math.min(Math.ceil(source.trainCount / batchSize), options.maxStepsPerEpoch ?? Number.POSITIVE_INFINITY);
    let lossSum = 0;
    let images = 0;
    let steps = 0;
    for await (const batch of source.trainBatches(batchSize, epoch)) {
      const shape: [number, number, number, number] = [batch.count, side, side, spec.channels];
      const inputs = usesStainNoise(spec) ? applyStainNoise(batch.data, shape, stainRandom).data : batch.data;
      const { loss } = await engine.trainBatch(inputs, batch.data, shape);
      if (!Number.isFinite(loss)) throw new Error(`training diverged: loss ${loss} at epoch ${epoch + 1}, step ${steps + 1} (try a lower --lr)`);
      lossSum += loss * batch.count;
      images += batch.count;
      steps++;
      if (report(steps, lossSum / images)) return 'stopped';
      if (steps >= stepsPerEpoch) break;
    }
    if (images === 0) throw new Error(`epoch ${epoch + 1}: no training image could be loaded`);
    if (!syncsModel) writeModelWeights(main.model, await engine.getWeights());
    const valLoss = await validationLoss(main, spec, source, batchSize, seed);
    const record: EpochRecord = { epoch: epoch + 1, loss: lossSum / images, valLoss, learningRate: state.learningRate, seconds: (Date.now() - epochStart) / 1000, images };
    state.history.push(record);
    state.epochsCompleted = epoch + 1;
    if (valLoss < state.bestValLoss * (1 - MIN_RELATIVE_IMPROVEMENT)) {
      state.bestValLoss = valLoss;
      state.bestEpoch = epoch + 1;
      state.epochsWithoutImprovement = 0;
      state.epochsSinceLrChange = 0;
      bestWeights = copyWeights(readModelWeights(main.model));
    } else {
      state.epochsWithoutImprovement++;
      state.epochsSinceLrChange++;
      const minLearningRate = initialLearningRate * MIN_LEARNING_RATE_FRACTION;
      if (state.epochsSinceLrChange >= lrPatience && state.learningRate > minLearningRate) {
        state.learningRate = Math.max(minLearningRate, state.learningRate * LR_FACTOR);
        state.epochsSinceLrChange = 0;
        await engine.setLearningRate(state.learningRate);
        log(`validation loss has not improved for ${lrPatience} epochs: learning rate -> ${state.learningRate}`);
      }
    }
    return {
      loss: record.loss,
      valLoss,
      learningRate: record.learningRate,
      images,
      seconds: record.seconds,
      summary: `loss ${record.loss.toPrecision(4)}, val ${valLoss.toPrecision(4)}, lr ${record.learningRate}`,
      ...(state.epochsWithoutImprovement >= patience ? { endStage: `early stopping: no validation improvement for ${patience} epochs (best epoch ${state.bestEpoch})` } : {}),
    };
  }

  return {
    earlierEpochs,
    stages: [
      {
        name: 'train',
        epochs,
        epochsDone: state.epochsCompleted,
        stepsPerEpoch: Math.min(Math.ceil(source.trainCount / batchSize), options.maxStepsPerEpoch ?? Number.POSITIVE_INFINITY),
        runEpoch,
        async afterEpoch() {
          const optimizerState = engine.getOptimizerState ? await engine.getOptimizerState() : null;
          state.hasOptimizerState = optimizerState !== null;
          await writeCheckpoint(runDir, main.model, { state, bestWeights, optimizerState });
          options.onEpoch?.(state.history[state.history.length - 1]);
        },
      },
    ],
    async finish() {
      if (state.bestEpoch < 1) return undefined;
      writeModelWeights(main.model, bestWeights);
      const mcDropout = modelMcDropout(spec);
      // Calibration scores through the card's outputs, score spec and MC-Dropout passes, as the runtimes do.
      const scoring = { outputs: modelOutputs(spec), score: defaultScoreSpec(spec), ...(mcDropout ? { mcDropout } : {}) };
      return {
        save: (dir) => saveModelToDir(main.model, dir),
        validationScores: (onMap) => scoreImages(main.model, source.validationBatches(batchSize), { height: side, width: side, channels: spec.channels }, scoring, onMap),
        bestEpoch: state.bestEpoch,
        bestValLoss: state.bestValLoss,
        card: {
          name: `${spec.family}-${spec.inputSize}px-${spec.channels === 1 ? 'grey' : 'rgb'}`,
          description: `${spec.family.toUpperCase()} trained on ${source.description}`,
          input: { name: 'input', layout: 'NCHW', shape: ['N', spec.channels, spec.inputSize, spec.inputSize] },
          ...scoring,
          loss: spec.family === 'vae' ? `${spec.loss} + ${spec.beta} * KL` : spec.loss,
          extras: { modelSpec: spec, bestEpoch: state.bestEpoch, bestValLoss: state.bestValLoss },
        },
      };
    },
    result: () => ({ workers, history: state.history }),
    dispose,
  };
}

/** Trains a CAE, NCAE, VAE or AESc into `options.out` (model, card, history, checkpoint). */
export async function train(options: TrainOptions): Promise<TrainResult> {
  if (options == null || typeof options !== 'object') throw new Error('train: options object required');
  const result = await runRecipe(autoencoderFamily(options.model), options);
  return {
    runDir: result.runDir,
    completed: result.completed,
    interrupted: result.interrupted,
    epochsRun: result.epochs.length,
    stoppedEarly: result.stoppedEarly,
    bestEpoch: result.bestEpoch,
    bestValLoss: result.bestValLoss,
    ...(result.threshold ? { threshold: result.threshold } : {}),
    ...(result.cardPath ? { cardPath: result.cardPath } : {}),
    backend: result.backend,
    workers: result.extra.workers,
    history: result.extra.history,
    timings: result.timings,
  };
}
