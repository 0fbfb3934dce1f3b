import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TrainCliOptions } from '../cli.js';
import type { ThresholdOption } from '@residuum/train';
import type { CommandContext } from './context.js';
import { acquireOutputLock, requireWritableFolder } from '../output/index.js';
import { CliError } from '../util/errors.js';
import { ExitCode, type ExitCodeValue } from '../util/exit-codes.js';
import { displayPath, formatDuration, formatNumber } from '../util/format.js';

export async function runTrain(options: TrainCliOptions, context: CommandContext, argv: readonly string[] = []): Promise<ExitCodeValue> {
  const { io } = context;
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
  await requireWritableFolder(out, '--out', options.out);
  // One run per run folder: a second one would mix checkpoints (a killed run's lock is taken over).
  const lock = await acquireOutputLock(join(out, TRAIN_LOCK), `--out ${options.out}`, 'residuum train');
  try {
    return await trainInto(out, options, context, threshold, argv);
  } finally {
    await lock.release();
  }
}

/** In the run folder, not beside it: the folder is the run's own. */
const TRAIN_LOCK = '.residuum-train.lock';

async function trainInto(
  out: string,
  options: TrainCliOptions,
  context: CommandContext,
  threshold: ThresholdOption | undefined,
  argv: readonly string[],
): Promise<ExitCodeValue> {
  const { io } = context;
  const { train } = await import('@residuum/train');
  if (options.model === 'dfr' || options.model === 'fanogan') {
    for (const [flag, value] of [['--loss', options.loss], ['--resume', options.resume], ['--workers', options.workers], ['--patience', options.patience]] as const) {
      if (value !== undefined) throw new CliError(`${flag} does not apply to --model ${options.model}`);
    }
    return runFamilyTrainer(options, context, out, threshold, argv);
  }
  context.interruption.handleGracefully();
  const result = await train({
    model: options.model,
    data: resolve(io.cwd, options.data),
    layout: options.layout,
    normalDir: options.layout === 'mnist' ? [String(options.digit)] : options.normalDir,
    size: options.size,
    channels: options.channels === '3' ? 3 : 1,
    epochs: options.epochs,
    out,
    backend: options.backend,
    batch: options.batch,
    seed: options.seed,
    loss: options.loss,
    resume: Boolean(options.resume),
    workers: options.workers,
    learningRate: options.lr,
    validationSplit: options.valSplit,
    patience: options.patience,
    threshold,
    quiet: Boolean(options.quiet),
    command: ['residuum', ...argv].join(' '),
    log: (line) => io.stderr(`${line}\n`),
    signal: context.interruption.signal,
    handleSigint: false,
  });
  if (!result.completed) {
    io.stdout(
      `training interrupted after ${result.epochsRun} epoch(s) (history.json says "interrupted"; the checkpoint of the last completed epoch is kept); ` +
        `continue with: residuum train ... --resume --out ${displayPath(out, io.cwd)}\n`,
    );
    return ExitCode.interrupted;
  }
  io.stdout(
    `trained ${options.model} on backend ${result.backend}: ${result.epochsRun} epoch(s)${result.stoppedEarly ? ' (stopped early)' : ''}, ` +
      `best validation loss ${formatNumber(result.bestValLoss)} at epoch ${result.bestEpoch}, ${formatNumber(result.timings.imagesPerSecond)} images/s, ${formatDuration(result.timings.totalMs)}\n` +
      (result.threshold ? `threshold ${formatNumber(result.threshold.value)} (${result.threshold.method})\n` : '') +
      `run folder: ${displayPath(result.runDir, io.cwd)}\n` +
      `next: residuum export ${displayPath(result.runDir, io.cwd)} --out model.onnx\n`,
  );
  if (result.threshold?.note) io.stderr(`warning: threshold: ${result.threshold.note} (recorded in the model card)\n`);
  return ExitCode.ok;
}

/** DFR and f-AnoGAN have their own trainers (feature AE over a frozen backbone; GAN then encoder). */
async function runFamilyTrainer(
  options: TrainCliOptions,
  context: CommandContext,
  out: string,
  threshold: ThresholdOption | undefined,
  argv: readonly string[],
): Promise<ExitCodeValue> {
  const { io } = context;
  const { trainDfr, trainFanogan } = await import('@residuum/train');
  // These trainers have no graceful stop: Ctrl-C ends the process (exit 130) and marks the folder.
  let finished = false;
  context.interruption.beforeImmediateExit(() => {
    if (finished) return;
    const reason = 'Ctrl-C before training finished: this folder holds no finished model; train again into it or another --out';
    writeFileSync(join(out, 'history.json'), JSON.stringify({ family: options.model, status: 'interrupted', reason }, null, 2) + '\n');
  });
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
  };
  const result =
    options.model === 'dfr'
      ? await trainDfr({ ...common, epochs: options.epochs, learningRate: options.lr, positionStandardizationImages: options.positionImages })
      : await trainFanogan({ ...common, ganEpochs: options.epochs, ganLearningRate: options.lr, maxTrainImages: options.maxTrainImages });
  finished = true;
  io.stdout(
    `trained ${options.model} on backend ${result.backend} in ${formatDuration(result.timings.totalMs)}\n` +
      `threshold ${formatNumber(result.card.threshold.value)} (${result.card.threshold.method})\n` +
      `run folder: ${displayPath(result.runDir, io.cwd)}\n` +
      `next: residuum export ${displayPath(result.runDir, io.cwd)} --out model.onnx\n`,
  );
  if (result.card.threshold.note) io.stderr(`warning: threshold: ${result.card.threshold.note} (recorded in the model card)\n`);
  return ExitCode.ok;
}
