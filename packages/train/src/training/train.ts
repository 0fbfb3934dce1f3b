/**
 * The training loop: Adam through a StepEngine (in-thread, or the data-parallel worker engine),
 * seeded, validation loss per epoch, early stopping and reduce-LR-on-plateau, a checkpoint
 * every epoch with resume, graceful Ctrl-C, then calibration on the validation images and the
 * model card. TrainOptions mirror `residuum train` flags one to one.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_CARD_SCHEMA_VERSION, validateModelCard, type ModelCard, type PreprocessingSpec, type ThresholdSpec } from '@residuum/scoring';
import { initBackend, type BackendRequest } from '../backend/index.js';
import { RECONSTRUCTION_LOSSES, type ReconstructionLoss } from '../losses/losses.js';
import { createTrainable, lossOfOutputs, type Trainable } from '../models/trainable.js';
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
} from '../models/spec.js';
import { applyStainNoise } from '../noise/stain.js';
import { createRandom } from '../random.js';
import { calibrate, DEFAULT_THRESHOLD, GoodPixels, scoreImages, type ThresholdOption } from './calibration.js';
import { findCheckpoint, readCheckpoint, writeCheckpoint, type EpochRecord, type TrainingState } from './checkpoint.js';
import { createDatasetSource, type DatasetLayout, type TrainingDataSource } from './data.js';
import { saveModelToDir, writeFileAtomic } from './model-io.js';
import { positiveInteger, trainerVersion } from './options.js';
import { createEpochProgress } from './progress.js';
import { InThreadEngine, readModelWeights, writeModelWeights, type NamedWeight, type StepEngine } from './step-engine.js';

export interface TrainOptions {
  /** --model */
  model: TrainableFamily;
  /** --data: dataset root (or give `dataSource`). */
  data?: string;
  /** --layout; default: detected from the folder. */
  layout?: DatasetLayout;
  /** --normal-dir (repeatable): normal training folders (folder layout); for mnist, the normal digit. */
  normalDir?: string[];
  /** --size: square model input side; default per family (CAE 128, NCAE 64, AESc 128, VAE 64). */
  size?: number;
  /** --channels: 1 (grey, default) or 3. */
  channels?: 1 | 3;
  /** --epochs, default 50 (early stopping usually ends sooner). */
  epochs?: number;
  /** --out: the run folder. */
  out: string;
  /** --backend, default 'auto'. */
  backend?: BackendRequest;
  /** --batch, default 16. */
  batch?: number;
  /** --seed, default 42. */
  seed?: number;
  /** --loss, default 'mse'. */
  loss?: ReconstructionLoss;
  /** --resume: continue from RUN_DIR/checkpoint. */
  resume?: boolean;
  /** --workers: data-parallel worker threads; 0 or 1 = train on the calling thread (default). */
  workers?: number;
  /** --lr, Adam's initial learning rate, default 1e-3. */
  learningRate?: number;
  /** --val-split: fraction of the normal images held out for validation/calibration, default 0.1. */
  validationSplit?: number;
  /** --patience: epochs without validation improvement before stopping, default 5. */
  patience?: number;
  /** Epochs without improvement before the learning rate is halved, default 2 (so it acts before early stopping). */
  lrPatience?: number;
  /** --threshold: mean-std (k 3, default), quantile (q 0.99) or target-fpr (fpr 0.01). */
  threshold?: ThresholdOption;
  /** --quiet: no progress bar, no log lines. */
  quiet?: boolean;
  /** The command line, recorded in the card. */
  command?: string;
  /** Architecture overrides (widths, latentDim, dropoutRates, beta, ...). */
  modelOptions?: ModelOptions;
  /** Programmatic data instead of `data` (tests, embedding). */
  dataSource?: TrainingDataSource;
  /** Stops like Ctrl-C: after the current step, keeping the last checkpoint. */
  signal?: AbortSignal;
  /** Install a SIGINT handler for the run (default true). */
  handleSigint?: boolean;
  /** Caps the steps of each epoch (quick checks). */
  maxStepsPerEpoch?: number;
  /** Called after each completed epoch. */
  onEpoch?: (record: EpochRecord) => void;
  /** Where log lines go (default stderr; nothing when quiet). */
  log?: (line: string) => void;
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
  /** False when stopped by Ctrl-C / signal: no final model or card, the checkpoint is kept for --resume. */
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

const DEFAULTS = { epochs: 50, batch: 16, seed: 42, loss: 'mse' as ReconstructionLoss, learningRate: 1e-3, validationSplit: 0.1, patience: 5, lrPatience: 2 };
const LR_FACTOR = 0.5;
/** Reduce-on-plateau never goes below this fraction of the initial learning rate. */
const MIN_LEARNING_RATE_FRACTION = 1e-3;
/** Relative improvement the validation loss must make to count as better. */
const MIN_RELATIVE_IMPROVEMENT = 1e-4;


function checkOptions(options: TrainOptions): void {
  if (options == null || typeof options !== 'object') throw new Error('train: options object required');
  if (!TRAINABLE_FAMILIES.includes(options.model)) {
    throw new Error(`--model must be one of ${TRAINABLE_FAMILIES.join(', ')}, got '${String(options.model)}'`);
  }
  if (typeof options.out !== 'string' || options.out.trim() === '') throw new Error('--out (the run folder) is required');
  if (options.data === undefined && options.dataSource === undefined) throw new Error('--data (the dataset folder) is required');
  if (options.channels !== undefined && options.channels !== 1 && options.channels !== 3) {
    throw new Error(`--channels must be 1 or 3, got ${String(options.channels)}`);
  }
  if (options.loss !== undefined && !RECONSTRUCTION_LOSSES.includes(options.loss)) {
    throw new Error(`--loss must be one of ${RECONSTRUCTION_LOSSES.join(', ')}, got '${String(options.loss)}'`);
  }
  const split = options.validationSplit ?? DEFAULTS.validationSplit;
  if (!(split > 0 && split < 1)) throw new Error(`validation split must be in (0, 1), got ${split}`);
  const lr = options.learningRate ?? DEFAULTS.learningRate;
  if (!(lr > 0 && Number.isFinite(lr))) throw new Error(`learning rate must be a positive number, got ${lr}`);
  if (options.workers !== undefined && (!Number.isInteger(options.workers) || options.workers < 0)) {
    throw new Error(`--workers must be an integer >= 0, got ${options.workers}`);
  }
}

/** The preprocessing every family trains with: fill-resize, bilinear, values in [0, 1] (sigmoid outputs). */
export function trainingPreprocessing(size: number, channels: 1 | 3): PreprocessingSpec {
  return {
    width: size,
    height: size,
    channels,
    resize: 'fill',
    interpolation: 'bilinear',
    mean: new Array<number>(channels).fill(0),
    std: new Array<number>(channels).fill(1),
  };
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
  const engineSpecifier = '../engine/index.js';
  const engineModule = (await import(engineSpecifier)) as DataParallelModule;
  if (typeof engineModule.createDataParallelEngine !== 'function') {
    throw new Error('--workers > 1 needs the data-parallel engine (src/engine), which is not available in this build');
  }
  const here = import.meta.url;
  // Workers import the factory: the .ts source under vitest/tsx, the built .js otherwise.
  const factoryUrl = new URL(here.endsWith('.ts') ? '../models/trainable.ts' : '../models/trainable.js', here).href;
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

async function writeHistory(runDir: string, history: EpochRecord[], extra: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(join(runDir, 'history.json'), JSON.stringify({ ...extra, epochs: history }, null, 2));
}


export async function train(options: TrainOptions): Promise<TrainResult> {
  const startedAt = Date.now();
  checkOptions(options);
  const quiet = options.quiet ?? false;
  const log = quiet ? (): void => undefined : (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)));
  const seed = options.seed ?? DEFAULTS.seed;
  const batchSize = positiveInteger(options.batch, '--batch', DEFAULTS.batch);
  const epochs = positiveInteger(options.epochs, '--epochs', DEFAULTS.epochs);
  const patience = positiveInteger(options.patience, 'patience', DEFAULTS.patience);
  const lrPatience = positiveInteger(options.lrPatience, 'lrPatience', DEFAULTS.lrPatience);
  const runDir = options.out;

  const spec = resolveModelSpec({
    ...(options.modelOptions ?? {}),
    family: options.model,
    inputSize: options.size,
    channels: options.channels,
    seed,
    loss: options.loss ?? DEFAULTS.loss,
  } as PartialModelSpec);
  const preprocessing = trainingPreprocessing(spec.inputSize, spec.channels);

  // Before any variable exists, so the model lives on the chosen backend.
  const selection = await initBackend(options.backend ?? 'auto');
  log(`backend: ${selection.backend} (${selection.reason})`);
  for (const skipped of selection.skipped) log(`  skipped ${skipped.name}: ${skipped.reason}`);
  const main = createTrainable(spec);

  const source =
    options.dataSource ??
    (await createDatasetSource({
      root: options.data as string,
      layout: options.layout,
      normalDirs: options.normalDir,
      preprocessing,
      validationFraction: options.validationSplit ?? DEFAULTS.validationSplit,
      seed,
      log,
    }));
  log(`data: ${source.description}`);

  await mkdir(runDir, { recursive: true });
  const existing = await findCheckpoint(runDir);
  if (existing !== null && !options.resume) {
    throw new Error(`${runDir} already holds a checkpoint: pass --resume to continue it, or choose another --out`);
  }
  if (existing === null && options.resume) throw new Error(`--resume: no checkpoint in ${runDir}`);

  let state: TrainingState = {
    version: 1,
    spec,
    epochsCompleted: 0,
    learningRate: options.learningRate ?? DEFAULTS.learningRate,
    bestValLoss: Number.POSITIVE_INFINITY,
    bestEpoch: -1,
    epochsWithoutImprovement: 0,
    epochsSinceLrChange: 0,
    history: [],
    hasOptimizerState: false,
  };
  let bestWeights: NamedWeight[] = readModelWeights(main.model);
  const { engine, workers } = await createEngine(options, spec, main, state.learningRate);
  if (workers > 1) log(`data-parallel training on ${workers} worker threads`);
  const syncsModel = engine instanceof InThreadEngine;

  const stop = { requested: false, reason: '' };
  const requestStop = (reason: string): void => {
    if (!stop.requested) log(`${reason}: stopping after the current step; the last completed epoch's checkpoint is kept`);
    stop.requested = true;
    stop.reason = reason;
  };
  const onSigint = (): void => {
    if (stop.requested) {
      // A second Ctrl-C: give up on the graceful stop.
      process.off('SIGINT', onSigint);
      process.kill(process.pid, 'SIGINT');
      return;
    }
    requestStop('interrupted (Ctrl-C)');
  };
  const onAbort = (): void => requestStop('stop requested');
  if (options.handleSigint ?? true) process.on('SIGINT', onSigint);
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) onAbort();

  const progress = createEpochProgress(quiet);
  let trainMs = 0;
  let imagesTrained = 0;
  let stoppedEarly = false;
  try {
    if (existing !== null) {
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
    }

    const side = spec.inputSize;
    const stepsPerEpoch = Math.min(Math.ceil(source.trainCount / batchSize), options.maxStepsPerEpoch ?? Number.POSITIVE_INFINITY);
    for (let epoch = state.epochsCompleted; epoch < epochs && !stop.requested; epoch++) {
      const epochStart = Date.now();
      const stainRandom = createRandom(seed + 7919 * (epoch + 1));
      progress.start(epoch + 1, epochs, stepsPerEpoch);
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
        progress.step(steps, lossSum / images);
        if (stop.requested || steps >= stepsPerEpoch) break;
      }
      progress.stop();
      if (stop.requested) break;
      if (images === 0) throw new Error(`epoch ${epoch + 1}: no training image could be loaded`);
      trainMs += Date.now() - epochStart;
      imagesTrained += images;

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
        const minLearningRate = (options.learningRate ?? DEFAULTS.learningRate) * MIN_LEARNING_RATE_FRACTION;
        if (state.epochsSinceLrChange >= lrPatience && state.learningRate > minLearningRate) {
          state.learningRate = Math.max(minLearningRate, state.learningRate * LR_FACTOR);
          state.epochsSinceLrChange = 0;
          await engine.setLearningRate(state.learningRate);
          log(`validation loss has not improved for ${lrPatience} epochs: learning rate -> ${state.learningRate}`);
        }
      }
      const optimizerState = engine.getOptimizerState ? await engine.getOptimizerState() : null;
      state.hasOptimizerState = optimizerState !== null;
      await writeCheckpoint(runDir, main.model, { state, bestWeights, optimizerState });
      await writeHistory(runDir, state.history, { status: 'training', bestEpoch: state.bestEpoch, bestValLoss: state.bestValLoss });
      log(`epoch ${record.epoch}/${epochs}: loss ${record.loss.toPrecision(4)}, val ${valLoss.toPrecision(4)}, lr ${record.learningRate}, ${record.seconds.toFixed(1)} s`);
      options.onEpoch?.(record);
      if (state.epochsWithoutImprovement >= patience) {
        stoppedEarly = true;
        log(`early stopping: no validation improvement for ${patience} epochs (best epoch ${state.bestEpoch})`);
        break;
      }
    }

    const timingsBase = { trainMs, imagesPerSecond: trainMs > 0 ? (imagesTrained * 1000) / trainMs : 0 };
    if (stop.requested) {
      await writeHistory(runDir, state.history, { status: 'interrupted', reason: stop.reason, bestEpoch: state.bestEpoch, bestValLoss: state.bestValLoss });
      log(`stopped: ${state.epochsCompleted} epoch(s) completed; continue with --resume --out ${runDir}`);
      return {
        runDir,
        completed: false,
        interrupted: true,
        epochsRun: state.epochsCompleted,
        stoppedEarly: false,
        bestEpoch: state.bestEpoch,
        bestValLoss: state.bestValLoss,
        backend: selection.backend,
        workers,
        history: state.history,
        timings: { totalMs: Date.now() - startedAt, calibrationMs: 0, ...timingsBase },
      };
    }
    if (state.epochsCompleted === 0) throw new Error('no epoch was trained');

    const calibrationStart = Date.now();
    writeModelWeights(main.model, bestWeights);
    await saveModelToDir(main.model, runDir);
    const goodPixels = new GoodPixels();
    const shape = { height: spec.inputSize, width: spec.inputSize, channels: spec.channels };
    const scores = await scoreImages(main.model, source.validationBatches(batchSize), shape, defaultScoreSpec(spec), goodPixels.add);
    const { calibration, threshold } = calibrate(scores, options.threshold ?? DEFAULT_THRESHOLD, `validation split of the normal training images (${scores.length})`, goodPixels);
    const calibrationMs = Date.now() - calibrationStart;

    const mcDropout = modelMcDropout(spec);
    const card: ModelCard = {
      schemaVersion: MODEL_CARD_SCHEMA_VERSION,
      family: spec.family,
      name: `${spec.family}-${spec.inputSize}px-${spec.channels === 1 ? 'grey' : 'rgb'}`,
      description: `${spec.family.toUpperCase()} trained on ${source.description}`,
      preprocessing,
      input: { name: 'input', layout: 'NCHW', shape: ['N', spec.channels, spec.inputSize, spec.inputSize] },
      outputs: modelOutputs(spec),
      score: defaultScoreSpec(spec),
      threshold,
      calibration,
      ...(mcDropout ? { mcDropout } : {}),
      training: {
        dataFingerprint: await source.fingerprint(),
        dataDescription: source.description,
        imageCount: source.trainCount + source.validationCount,
        epochs: state.epochsCompleted,
        seed,
        backend: selection.backend,
        loss: spec.family === 'vae' ? `${spec.loss} + ${spec.beta} * KL` : spec.loss,
        ...(options.command ? { command: options.command } : {}),
      },
      createdAt: new Date().toISOString(),
      producer: { trainer: await trainerVersion() },
      extras: { modelSpec: spec, bestEpoch: state.bestEpoch, bestValLoss: state.bestValLoss, skippedFiles: source.skipped() },
    };
    const cardPath = join(runDir, 'model-card.json');
    await writeFile(cardPath, JSON.stringify(validateModelCard(card), null, 2));
    await writeHistory(runDir, state.history, { status: stoppedEarly ? 'early-stopped' : 'completed', bestEpoch: state.bestEpoch, bestValLoss: state.bestValLoss });
    log(`model and card written to ${runDir} (threshold ${threshold.value.toPrecision(4)}, ${threshold.method})`);
    return {
      runDir,
      completed: true,
      interrupted: false,
      epochsRun: state.epochsCompleted,
      stoppedEarly,
      bestEpoch: state.bestEpoch,
      bestValLoss: state.bestValLoss,
      threshold,
      cardPath,
      backend: selection.backend,
      workers,
      history: state.history,
      timings: { totalMs: Date.now() - startedAt, calibrationMs, ...timingsBase },
    };
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
    options.signal?.removeEventListener('abort', onAbort);
    await engine.dispose();
    main.model.dispose();
  }
}

