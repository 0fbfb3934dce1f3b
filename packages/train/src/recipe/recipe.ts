/**
 * The one training recipe every family plugs into. The recipe owns what all families share: option
 * checks, backend set-up, the dataset, the run folder, Ctrl-C / abort, the progress bar, the epoch
 * loop over the family's stages with timing and images/s, history.json after every epoch,
 * calibration on the validation images, the model card, and an interrupted run's best-so-far model.
 * A family (families/<name>/family.ts) says what it builds, what one epoch of each stage trains,
 * its preprocessing, its score spec and its outputs (see TrainingFamily).
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  MODEL_CARD_SCHEMA_VERSION,
  type CalibrationStats,
  type ModelCard,
  type ModelFamily,
  type PreprocessingSpec,
  type ThresholdSpec,
} from '@residuum/scoring';
import { initBackend, type BackendRequest, type BackendSelection } from '../backend/index.js';
import { calibrate, DEFAULT_THRESHOLD, GoodPixels, type ThresholdOption } from '../training/calibration.js';
import { createDatasetSource, type TrainingDataSource } from '../training/data.js';
import { fractionIn, trainerVersion, type RunDataOptions } from '../training/options.js';
import { createEpochProgress } from '../training/progress.js';
import { runPath, writeRunCard, writeRunHistory, type HistoryEpoch, type RunStatus } from '../run-folder/index.js';

/** Options every family takes (each family adds its own; the CLI maps flags onto both). */
export interface RecipeOptions extends RunDataOptions {
  seed?: number;
  /** Held-out fraction of the normal images for validation and calibration (default 0.1). */
  validationSplit?: number;
  /** Image threshold (default quantile 0.99 of the validation scores). */
  threshold?: ThresholdOption;
  /** Default 'auto' (tfjs-node when installed, else wasm). */
  backend?: BackendRequest;
  /** The command line, recorded in the card. */
  command?: string;
  /** No progress bar, no log lines. */
  quiet?: boolean;
  /** Where log lines go (default stderr; nothing when quiet). */
  log?: (line: string) => void;
  /** Stops like Ctrl-C: after the current step; the best model so far is kept, with its card. */
  signal?: AbortSignal;
  /** Install a SIGINT handler for the run (default true; the CLI has its own). */
  handleSigint?: boolean;
}

/** What the recipe gives a family's `plan`. */
export interface TrainingEnvironment {
  runDir: string;
  source: TrainingDataSource;
  backend: BackendSelection;
  seed: number;
  log: (line: string) => void;
  stopRequested(): boolean;
  /** Passes batches on until a stop is requested (long reads before the first epoch: DFR's features). */
  untilStopped<T>(batches: AsyncIterable<T>): AsyncIterable<T>;
}

/** After each step: updates the progress bar; true = a stop was requested (end the epoch now). */
export type StepReport = (stepsDone: number, meanLoss: number) => boolean;

export interface EpochOutcome {
  loss: number;
  valLoss?: number;
  learningRate?: number;
  /** Training images this epoch covered (images/s is computed from them). */
  images: number;
  /** The epoch's duration as the family recorded it in its own result (default: measured here). */
  seconds?: number;
  metrics?: Record<string, number | string>;
  /** The family's log line for the epoch, after "<stage> epoch i/n: ". */
  summary?: string;
  /** End this stage after this epoch (early stopping, a step budget). */
  endStage?: string;
}

export interface TrainingStage {
  /** 'train' for one-stage families; f-AnoGAN: 'gan' then 'encoder'. */
  name: string;
  epochs: number;
  /** Epochs already done (resume). */
  epochsDone?: number;
  stepsPerEpoch: number;
  /** One epoch; `'stopped'` when a step report asked to stop (the epoch is then not counted). */
  runEpoch(epoch: number, step: StepReport): Promise<EpochOutcome | 'stopped'>;
  /** After a counted epoch and its history.json (checkpoints). */
  afterEpoch?(epoch: number): Promise<void>;
}

/** The model the run folder keeps, and what its card says beyond what the recipe fills in. */
export interface FinishedModel {
  /** Writes model.json + weights.bin (and the family's extra files) into the run folder. */
  save(runDir: string): Promise<void>;
  /** Scores of the validation images as the runtimes compute them; `onMap` sees each anomaly map. */
  validationScores(onMap: (map: Float32Array) => void): Promise<number[]>;
  /** calibration.pixelThreshold's false-positive rate on good pixels (default: calibrate's). */
  pixelFpr?: number;
  card: Pick<ModelCard, 'name' | 'description' | 'input' | 'outputs' | 'score'> & Partial<Pick<ModelCard, 'mcDropout'>> & { loss: string; extras: Record<string, unknown> };
  bestEpoch: number;
  bestValLoss: number;
}

export interface FamilyTraining<Extra> {
  stages: TrainingStage[];
  /** Earlier epochs of this run (resume, a reused GAN), in history.json's form. */
  earlierEpochs?: HistoryEpoch[];
  /** The best model so far; undefined when nothing usable exists yet (stopped before the first useful epoch). */
  finish(stopped: boolean): Promise<FinishedModel | undefined>;
  /** history.json's `details`. */
  details?(): Record<string, unknown>;
  /** The family's part of the result. */
  result(): Extra;
  dispose(): Promise<void>;
}

/** A model family as the recipe sees it. */
export interface TrainingFamily<Options extends RecipeOptions, Extra> {
  family: ModelFamily;
  /** Checks the family's options before anything loads (messages prefixed with the caller's name). */
  check?(options: Options): void;
  /** Once, before the backend is chosen (e.g. registering gradients). */
  beforeBackend?(): void;
  preprocessing(options: Options): PreprocessingSpec;
  /** Before the dataset is opened: refuse a run folder this run must not write into (e.g. a checkpoint without --resume). */
  checkRunFolder?(runDir: string, options: Options): Promise<void>;
  /** Builds the models and reads what the stages need; the recipe then runs the stages. */
  plan(options: Options, env: TrainingEnvironment): Promise<FamilyTraining<Extra>>;
}

export interface RecipeResult<Extra> {
  runDir: string;
  family: ModelFamily;
  /** False when stopped by Ctrl-C / signal. */
  completed: boolean;
  interrupted: boolean;
  /** Why it stopped, when interrupted. */
  reason?: string;
  /** The card written (also after an interruption, when a best-so-far model existed). */
  card?: ModelCard;
  cardPath?: string;
  threshold?: ThresholdSpec;
  calibration?: CalibrationStats;
  /** Every epoch of every stage, this session's and earlier ones. */
  epochs: HistoryEpoch[];
  /** Epochs counted this session. */
  epochsThisRun: number;
  stoppedEarly: boolean;
  bestEpoch: number;
  bestValLoss: number;
  backend: string;
  timings: { totalMs: number; trainMs: number; calibrationMs: number; imagesPerSecond: number };
  extra: Extra;
}

/** Square fill-resize, bilinear, one mean and std for every channel: what every family trains with (each its own values). */
export function squarePreprocessing(size: number, channels: 1 | 3, mean: number, std: number): PreprocessingSpec {
  return { width: size, height: size, channels, resize: 'fill', interpolation: 'bilinear', mean: new Array<number>(channels).fill(mean), std: new Array<number>(channels).fill(std) };
}

const DEFAULT_SEED = 42;
const DEFAULT_VALIDATION_SPLIT = 0.1;

function checkCommon(options: RecipeOptions, owner: string): void {
  if (options == null || typeof options !== 'object') throw new Error(`${owner}options object required`);
  if (typeof options.out !== 'string' || options.out.trim() === '') throw new Error(`${owner}--out (the run folder) is required`);
  if (options.data === undefined && options.dataSource === undefined) throw new Error(`${owner}--data (the dataset folder) or dataSource is required`);
  if (options.seed !== undefined && !Number.isInteger(options.seed)) throw new Error(`${owner}seed must be an integer, got ${String(options.seed)}`);
  fractionIn(options.validationSplit, 'validation split', DEFAULT_VALIDATION_SPLIT, 0, 1, owner);
}

/** Ctrl-C (SIGINT) and an AbortSignal both ask for a stop after the current step; a second Ctrl-C exits. */
function stopController(options: RecipeOptions, log: (line: string) => void): { requested(): boolean; reason(): string; dispose(): void } {
  let reason = '';
  const request = (why: string): void => {
    if (reason === '') log(`${why}: stopping after the current step; the best model so far is kept`);
    if (reason === '') reason = why;
  };
  const onSigint = (): void => {
    if (reason !== '') {
      process.off('SIGINT', onSigint);
      process.kill(process.pid, 'SIGINT');
      return;
    }
    request('interrupted (Ctrl-C)');
  };
  // A string reason (the CLI's 'interrupted (Ctrl-C)') names the stop in the log, history.json and the card.
  const onAbort = (): void => request(typeof options.signal?.reason === 'string' ? options.signal.reason : 'stop requested');
  if (options.handleSigint ?? true) process.on('SIGINT', onSigint);
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) onAbort();
  return {
    requested: () => reason !== '',
    reason: () => reason,
    dispose: () => {
      process.off('SIGINT', onSigint);
      options.signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** images/s over the epochs trained this session, or over the recorded ones when none was (a resume with nothing left). */
function imagesPerSecond(thisRun: HistoryEpoch[], all: HistoryEpoch[]): number {
  const rate = (epochs: HistoryEpoch[]): number => {
    const seconds = epochs.reduce((s, e) => s + e.seconds, 0);
    const images = epochs.reduce((s, e) => s + (e.images ?? 0), 0);
    return seconds > 0 ? images / seconds : 0;
  };
  return thisRun.length > 0 ? rate(thisRun) : rate(all);
}

export async function runRecipe<Options extends RecipeOptions, Extra>(family: TrainingFamily<Options, Extra>, options: Options, owner = ''): Promise<RecipeResult<Extra>> {
  const startedAt = Date.now();
  checkCommon(options, owner);
  family.check?.(options);
  const quiet = options.quiet ?? false;
  const log = quiet ? (): void => undefined : (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)));
  const seed = options.seed ?? DEFAULT_SEED;
  const runDir = resolve(options.out);
  const preprocessing = family.preprocessing(options);

  family.beforeBackend?.();
  // Before any variable exists, so the models live on the chosen backend.
  const backend = await initBackend(options.backend ?? 'auto');
  log(`backend: ${backend.backend} (${backend.reason})`);
  for (const skipped of backend.skipped) log(`  skipped ${skipped.name}: ${skipped.reason}`);
  await mkdir(runDir, { recursive: true });
  await family.checkRunFolder?.(runDir, options);
  const source =
    options.dataSource ??
    (await createDatasetSource({
      root: options.data as string,
      layout: options.layout,
      normalDirs: options.normalDir,
      preprocessing,
      validationFraction: options.validationSplit ?? DEFAULT_VALIDATION_SPLIT,
      seed,
      log,
    }));
  log(`data: ${source.description}`);

  const stop = stopController(options, log);
  const progress = createEpochProgress(quiet);
  async function* untilStopped<T>(batches: AsyncIterable<T>): AsyncIterable<T> {
    for await (const batch of batches) {
      if (stop.requested()) return;
      yield batch;
    }
  }
  const training = await family.plan(options, { runDir, source, backend, seed, log, stopRequested: stop.requested, untilStopped }).catch((error: unknown) => {
    stop.dispose();
    throw error;
  });
  const earlier = training.earlierEpochs ?? [];
  const thisRun: HistoryEpoch[] = [];
  let stoppedEarly = false;
  const writeHistory = (status: RunStatus, best: { epoch: number; valLoss: number }, reason?: string): Promise<void> =>
    writeRunHistory(runDir, {
      family: family.family,
      status,
      ...(reason ? { reason } : {}),
      bestEpoch: best.epoch,
      bestValLoss: best.valLoss,
      epochs: [...earlier, ...thisRun],
      ...(training.details ? { details: training.details() } : {}),
    });
  let best = { epoch: 0, valLoss: Number.POSITIVE_INFINITY };
  try {
    for (const stage of training.stages) {
      for (let epoch = (stage.epochsDone ?? 0) + 1; epoch <= stage.epochs && !stop.requested(); epoch++) {
        const epochStart = Date.now();
        progress.start(epoch, stage.epochs, stage.stepsPerEpoch);
        const outcome = await stage.runEpoch(epoch, (done, loss) => {
          progress.step(done, loss);
          return stop.requested();
        });
        progress.stop();
        if (outcome === 'stopped') break;
        if (!Number.isFinite(outcome.loss)) throw new Error(`${owner}training diverged: ${stage.name} loss ${outcome.loss} at epoch ${epoch} (try a lower --lr)`);
        const record: HistoryEpoch = {
          stage: stage.name,
          epoch,
          loss: outcome.loss,
          ...(outcome.valLoss !== undefined ? { valLoss: outcome.valLoss } : {}),
          ...(outcome.learningRate !== undefined ? { learningRate: outcome.learningRate } : {}),
          seconds: outcome.seconds ?? (Date.now() - epochStart) / 1000,
          images: outcome.images,
          ...(outcome.metrics ? { metrics: outcome.metrics } : {}),
        };
        thisRun.push(record);
        if (outcome.valLoss !== undefined && outcome.valLoss < best.valLoss) best = { epoch, valLoss: outcome.valLoss };
        await writeHistory('training', best);
        await stage.afterEpoch?.(epoch);
        const prefix = training.stages.length > 1 ? `${stage.name} epoch` : 'epoch';
        log(
          `${prefix} ${epoch}/${stage.epochs}: ${outcome.summary ?? `loss ${outcome.loss.toPrecision(4)}${outcome.valLoss !== undefined ? `, val ${outcome.valLoss.toPrecision(4)}` : ''}`}, ` +
            `${(record.images ?? 0) > 0 && record.seconds > 0 ? `${((record.images ?? 0) / record.seconds).toFixed(1)} images/s, ` : ''}${record.seconds.toFixed(1)} s`,
        );
        if (outcome.endStage) {
          log(outcome.endStage);
          if (stage === training.stages[training.stages.length - 1]) stoppedEarly = true;
          break;
        }
      }
    }
    const trainMs = thisRun.reduce((s, e) => s + e.seconds * 1000, 0);
    const rate = imagesPerSecond(thisRun, [...earlier, ...thisRun]);
    const interrupted = stop.requested();
    const reason = interrupted ? stop.reason() : undefined;

    const calibrationStart = Date.now();
    const finished = await training.finish(interrupted);
    if (finished === undefined) {
      if (!interrupted) throw new Error(`${owner}no epoch was trained`);
      await writeHistory('interrupted', best, `${reason}: no usable model yet`);
      log(`stopped before a usable model existed: no model or card written${family.family === 'cae' || family.family === 'ncae' || family.family === 'vae' || family.family === 'aesc' ? `; continue with --resume --out ${runDir}` : ''}`);
      return {
        runDir,
        family: family.family,
        completed: false,
        interrupted: true,
        ...(reason ? { reason } : {}),
        epochs: [...earlier, ...thisRun],
        epochsThisRun: thisRun.length,
        stoppedEarly: false,
        bestEpoch: best.epoch,
        bestValLoss: best.valLoss,
        backend: backend.backend,
        timings: { totalMs: Date.now() - startedAt, trainMs, calibrationMs: 0, imagesPerSecond: rate },
        extra: training.result(),
      };
    }
    await finished.save(runDir);
    const goodPixels = new GoodPixels();
    const scores = await finished.validationScores(goodPixels.add);
    const { calibration, threshold } = calibrate(
      scores,
      options.threshold ?? DEFAULT_THRESHOLD,
      `validation split of the normal training images (${scores.length})`,
      goodPixels,
      ...(finished.pixelFpr !== undefined ? [finished.pixelFpr] : []),
    );
    const calibrationMs = Date.now() - calibrationStart;
    const all = [...earlier, ...thisRun];
    const interruptedNote = interrupted
      ? `${reason} after ${all.length} epoch(s); this is the best model so far (epoch ${finished.bestEpoch}), not a finished training`
      : undefined;
    const { loss, extras, ...described } = finished.card;
    const card = await writeRunCard(runDir, {
      schemaVersion: MODEL_CARD_SCHEMA_VERSION,
      family: family.family,
      ...described,
      preprocessing,
      threshold,
      calibration,
      training: {
        dataFingerprint: await source.fingerprint(),
        dataDescription: source.description,
        imageCount: source.trainCount + source.validationCount,
        epochs: all.length,
        seed,
        backend: backend.backend,
        loss,
        ...(options.command ? { command: options.command } : {}),
        ...(interruptedNote ? { interrupted: interruptedNote } : {}),
      },
      createdAt: new Date().toISOString(),
      producer: { trainer: await trainerVersion() },
      extras: { ...extras, skippedFiles: source.skipped() },
    });
    const bestSoFar = { epoch: finished.bestEpoch, valLoss: finished.bestValLoss };
    await writeHistory(interrupted ? 'interrupted' : stoppedEarly ? 'early-stopped' : 'completed', bestSoFar, reason);
    log(
      interrupted
        ? `stopped: best-so-far model and card written to ${runDir} (marked interrupted; threshold ${threshold.value.toPrecision(4)})`
        : `model and card written to ${runDir} (threshold ${threshold.value.toPrecision(4)}, ${threshold.method}${calibration.pixelThreshold !== undefined ? `, pixel threshold ${calibration.pixelThreshold.toPrecision(4)}` : ''})`,
    );
    return {
      runDir,
      family: family.family,
      completed: !interrupted,
      interrupted,
      ...(reason ? { reason } : {}),
      card,
      cardPath: runPath(runDir, 'card'),
      threshold,
      calibration,
      epochs: all,
      epochsThisRun: thisRun.length,
      stoppedEarly,
      bestEpoch: finished.bestEpoch,
      bestValLoss: finished.bestValLoss,
      backend: backend.backend,
      timings: { totalMs: Date.now() - startedAt, trainMs, calibrationMs, imagesPerSecond: rate },
      extra: training.result(),
    };
  } finally {
    progress.stop();
    stop.dispose();
    await training.dispose();
  }
}
