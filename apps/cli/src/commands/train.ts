import { join, resolve } from 'node:path';
import type { TrainCliOptions } from '../cli.js';
import type { OnnxBackboneSpec, ThresholdOption } from '@residuum/train';
import type { ImageScoreSpec } from '@residuum/scoring';
import type { CommandContext } from './context.js';
import { acquireOutputLock, requireWritableFolder } from '../output/index.js';
import { CliError } from '../util/errors.js';
import { ExitCode, type ExitCodeValue } from '../util/exit-codes.js';
import { displayPath, formatDuration, formatNumber } from '../util/format.js';

export async function runTrain(given: TrainCliOptions, context: CommandContext, argv: readonly string[] = []): Promise<ExitCodeValue> {
  const { io } = context;
  // PatchCore always runs on a pretrained backbone: ResNet-50 unless --backbone names another.
  const options = given.model === 'patchcore' && given.backbone === undefined ? { ...given, backbone: 'resnet50' } : given;
  if (options.layout === 'mnist' && options.digit === undefined) throw new CliError('--layout mnist needs --digit D (the digit to train on)');
  if (options.layout !== 'mnist' && options.digit !== undefined) throw new CliError('--digit applies to --layout mnist only');
  if (options.digit !== undefined && options.digit > 9) throw new CliError(`--digit must be 0-9, got ${options.digit}`);
  if (options.layout === 'folder' && !options.normalDir?.length) {
    throw new CliError('--layout folder needs --normal-dir SUB (the folder of good training images, relative to --data)');
  }
  if (options.layout !== 'folder' && options.normalDir?.length) throw new CliError(`--normal-dir applies to --layout folder only`);
  // TensorFlow.js loads only when training is asked for (it takes seconds).
  const { parseThresholdOption } = await import('@residuum/train');
  if (options.valSplit !== undefined && !(options.valSplit > 0 && options.valSplit < 1)) {
    throw new CliError(`--val-split must be between 0 and 1 (exclusive), got ${options.valSplit}`);
  }
  if (options.lr !== undefined && !(options.lr > 0)) throw new CliError(`--lr must be > 0, got ${options.lr}`);
  const threshold = options.thresholdMethod !== undefined ? parseThresholdOption(options.thresholdMethod) : undefined;
  const out = resolve(io.cwd, options.out);
  if (options.maxTrainImages !== undefined && options.model !== 'fanogan') throw new CliError('--max-train-images applies to --model fanogan only');
  if (options.positionImages !== undefined && options.model !== 'dfr') throw new CliError('--position-images applies to --model dfr only');
  if (options.positionImages === 1) throw new CliError('--position-images must be 0 (off) or at least 2');
  for (const [flag, value] of [['--bank-size', options.bankSize], ['--patch-dim', options.patchDim], ['--local-window', options.localWindow], ['--image-score', options.imageScore]] as const) {
    if (value !== undefined && options.model !== 'patchcore') throw new CliError(`${flag} applies to --model patchcore only`);
  }
  if (options.localWindow !== undefined) {
    const { localWindowProblem } = await import('@residuum/train');
    const problem = localWindowProblem(options.localWindow);
    if (problem !== undefined) throw new CliError(`--local-window ${problem}`);
  }
  const imageScore = options.imageScore === undefined ? undefined : parseImageScore(options.imageScore);
  if (options.epochs === undefined && options.model !== 'patchcore') throw new CliError(`--epochs is required for --model ${options.model}`);
  const { checkBackboneOption } = await import('./backbone-option.js');
  if (options.backbone !== undefined) checkBackboneOption(options.model, options.backbone, options.channels === '3' ? 3 : 1);
  await requireWritableFolder(out, '--out', options.out);
  // One run per run folder: a second one would mix checkpoints (a killed run's lock is taken over).
  const lock = await acquireOutputLock(join(out, TRAIN_LOCK), `--out ${options.out}`, 'residuum train');
  try {
    return await trainInto(out, { ...options, parsedImageScore: imageScore }, context, threshold, argv);
  } finally {
    await lock.release();
  }
}

/** `--image-score`: max, mean or top-k-mean[:fraction] (fraction in (0, 1], default 0.05). */
export function parseImageScore(text: string): ImageScoreSpec {
  const [kind, fraction, ...rest] = text.split(':');
  if (rest.length === 0 && fraction === undefined && (kind === 'max' || kind === 'mean')) return { kind };
  if (kind === 'top-k-mean' && rest.length === 0) {
    const topKFraction = fraction === undefined ? 0.05 : Number(fraction);
    if (fraction === '' || !(topKFraction > 0 && topKFraction <= 1)) throw new CliError(`--image-score top-k-mean:FRACTION needs a fraction in (0, 1], got '${fraction}'`);
    return { kind, topKFraction };
  }
  throw new CliError(`--image-score must be max, mean or top-k-mean[:fraction], got '${text}'`);
}

/** In the run folder, not beside it: the folder is the run's own. */
const TRAIN_LOCK = '.residuum-train.lock';

async function trainInto(
  out: string,
  options: TrainCliOptions & { parsedImageScore?: ImageScoreSpec },
  context: CommandContext,
  threshold: ThresholdOption | undefined,
  argv: readonly string[],
): Promise<ExitCodeValue> {
  const { io } = context;
  const { trainModel, FAMILY_FEATURES } = await import('@residuum/train');
  const features = FAMILY_FEATURES[options.model];
  for (const [flag, value, applies] of [
    ['--loss', options.loss, features.loss],
    ['--resume', options.resume, features.resume],
    ['--workers', options.workers, features.workers],
    ['--patience', options.patience, features.patience],
    ['--epochs', options.epochs, features.epochs],
    ['--lr', options.lr, features.learningRate],
  ] as const) {
    if (value !== undefined && !applies) throw new CliError(`${flag} does not apply to --model ${options.model}`);
  }
  // Before the run starts: a backbone fetched and converted on first use says so, an offline machine is told which file to copy.
  const backbone = options.backbone === undefined
    ? undefined
    : await (await import('./backbone-option.js')).resolveOnnxBackbone(options.model, options.backbone, { size: options.size, io, quiet: Boolean(options.quiet) });
  // Every family stops gracefully on Ctrl-C: the best model so far is written with a card marked interrupted.
  context.interruption.handleGracefully();
  const common = {
    out,
    data: resolve(io.cwd, options.data),
    layout: options.layout,
    normalDir: options.layout === 'mnist' ? [String(options.digit)] : options.normalDir,
    size: options.size,
    channels: (options.channels === '3' ? 3 : 1) as 1 | 3,
    batch: options.batch,
    seed: options.seed,
    validationSplit: options.valSplit,
    threshold,
    backend: options.backend,
    command: ['residuum', ...argv].join(' '),
    quiet: Boolean(options.quiet),
    log: (line: string) => io.stderr(`${line}\n`),
    signal: context.interruption.signal,
    handleSigint: false,
  };
  const result = await trainModel(
    options.model === 'dfr'
      ? { ...common, model: 'dfr', epochs: options.epochs, learningRate: options.lr, positionStandardizationImages: options.positionImages, ...(backbone ? { backbone } : {}) }
      : options.model === 'fanogan'
        ? { ...common, model: 'fanogan', ganEpochs: options.epochs, ganLearningRate: options.lr, maxTrainImages: options.maxTrainImages }
        : options.model === 'patchcore'
        ? { ...common, model: 'patchcore', backbone: backbone as OnnxBackboneSpec, featureBatch: options.batch, bankSize: options.bankSize, dim: options.patchDim, localWindow: options.localWindow, ...(options.parsedImageScore ? { imageScore: options.parsedImageScore } : {}) }
        : {
            ...common,
            model: options.model,
            epochs: options.epochs,
            loss: options.loss,
            resume: Boolean(options.resume),
            workers: options.workers,
            learningRate: options.lr,
            patience: options.patience,
          },
  );
  const run = displayPath(result.runDir, io.cwd);
  const stages = [...new Set(result.epochs.map((e) => e.stage))];
  const perStage = stages.length > 1 ? ` (${stages.map((stage) => `${stage} ${result.epochs.filter((e) => e.stage === stage).length}`).join(', ')})` : '';
  const trained =
    `trained ${options.model} on backend ${result.backend}: ${result.epochs.length} epoch(s)${perStage}${result.stoppedEarly ? ' (stopped early)' : ''}` +
    (Number.isFinite(result.bestValLoss) ? `, best validation loss ${formatNumber(result.bestValLoss)} at epoch ${result.bestEpoch}` : '') +
    `, ${formatNumber(result.timings.imagesPerSecond)} images/s, ${formatDuration(result.timings.totalMs)}\n`;
  const resume = FAMILY_FEATURES[options.model].resume ? `; continue with: residuum train ... --resume --out ${run}` : '';
  if (!result.completed) {
    io.stdout(
      result.card
        ? `training interrupted after ${result.epochs.length} epoch(s) (history.json says "interrupted"); the best model so far and its card are written, marked interrupted${resume}\n` +
            `${trained}threshold ${formatNumber(result.card.threshold.value)} (${result.card.threshold.method})\nrun folder: ${run}\n`
        : `training interrupted after ${result.epochs.length} epoch(s) (history.json says "interrupted"): no usable model yet${resume || '; train again'}\n`,
    );
    return ExitCode.interrupted;
  }
  io.stdout(
    trained +
      (result.threshold ? `threshold ${formatNumber(result.threshold.value)} (${result.threshold.method})\n` : '') +
      `run folder: ${run}\n` +
      `next: residuum export ${run} --out model.onnx\n`,
  );
  if (result.threshold?.note) io.stderr(`warning: threshold: ${result.threshold.note} (recorded in the model card)\n`);
  return ExitCode.ok;
}
