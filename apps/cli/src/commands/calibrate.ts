/**
 * `residuum calibrate`: sets a model's image (and pixel) threshold from the user's own good (and
 * defective) images and writes a NEW ONNX file with the card updated. The images are scored by
 * runtime-node's inspector on the ONNX file itself, with the card's MC-Dropout passes, so the
 * threshold judges exactly the score every runtime computes. The policy, the expectations and
 * the refusals live in @residuum/scoring (calibrateThreshold); this file reads, scores and writes.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { fingerprintFiles } from '@residuum/imaging';
import { withModelCard } from '@residuum/onnx-converter';
import { createNodeInspector } from '@residuum/runtime-node';
import {
  calibrateThreshold,
  CalibrationSetError,
  IMAGE_SET_FINGERPRINT_RULE,
  relativeToCommonFolder,
  sha256Hex,
  describeVerdictCounts,
  targetFprThreshold,
  withCalibratedThreshold,
  type CalibrationPolicy,
  type CalibrationRecord,
  type ProportionInterval,
} from '@residuum/scoring';
import { loadModelCard } from '@residuum/inspection';
import type { CalibrateCliOptions } from '../cli.js';
import type { CommandContext } from './context.js';
import { collectImages, IMAGE_EXTENSIONS, isImagePath } from '../util/collect-images.js';
import { CliError } from '../util/errors.js';
import { ExitCode, type ExitCodeValue } from '../util/exit-codes.js';
import { displayPath, formatDuration, formatNumber } from '../util/format.js';
import { acquireOutputLock, prepareOutputFile, writeOutputFile, writtenWord, type OutputFile } from '../output/index.js';
import { startProgress } from '../util/progress.js';

/** The trainer's default share of good pixels above the pixel threshold (heatmap scale). */
const DEFAULT_PIXEL_FPR = 0.05;

interface CalibrationSet {
  flag: '--good' | '--defective';
  given: string;
  root: string;
  images: string[];
}

const percent = (x: number) => `${(100 * x).toFixed(1)} %`;
const intervalText = (i: ProportionInterval) => `${i.successes} of ${i.trials} (${percent(i.estimate)}, 95 % interval ${percent(i.lower)} - ${percent(i.upper)})`;

function policyOf(options: CalibrateCliOptions): { policy: CalibrationPolicy; flag: string } {
  const given = [options.targetFpr !== undefined, options.targetRecall !== undefined, Boolean(options.f1)].filter(Boolean).length;
  if (given !== 1) throw new CliError('give exactly one policy: --target-fpr F, --target-recall R or --f1');
  if (options.targetFpr !== undefined) return { policy: { kind: 'target-fpr', fpr: options.targetFpr }, flag: `--target-fpr ${options.targetFpr}` };
  if (options.targetRecall !== undefined) return { policy: { kind: 'target-recall', recall: options.targetRecall }, flag: `--target-recall ${options.targetRecall}` };
  return { policy: { kind: 'f1' }, flag: '--f1' };
}

/** Paths listed in a text file (one per line, relative to the list's folder; # comments). */
async function readList(path: string, flag: string, given: string): Promise<string[]> {
  const lines = (await readFile(path, 'utf8')).split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0) throw new CliError(`${flag} ${given}: the list names no file`);
  return lines.map((line) => resolve(dirname(path), line));
}

/**
 * Images of one set: a folder (recursive), or a list file of image paths relative to the list's
 * folder; for the MVTec layout, a folder's ground_truth/ (and in --defective its good/) is skipped.
 */
async function readSet(flag: CalibrationSet['flag'], given: string, layout: CalibrateCliOptions['layout'], cwd: string): Promise<CalibrationSet> {
  const root = resolve(cwd, given);
  const info = await stat(root).catch(() => null);
  if (info?.isFile()) {
    const images = await readList(root, flag, given);
    return { flag, given, root: dirname(root), images };
  }
  if (!info?.isDirectory()) throw new CliError(`${flag} ${given}: not a folder of images nor a list file`);
  const collected = await collectImages([root], cwd);
  let images = collected.images;
  if (layout === 'mvtec') {
    const inside = (path: string) => relative(root, path).split(sep);
    images = images.filter((path) => !inside(path).includes('ground_truth') && !(flag === '--defective' && inside(path)[0] === 'good'));
  }
  if (images.length === 0) throw new CliError(`${flag} ${given}: no image found (looked for ${[...IMAGE_EXTENSIONS].join(', ')}, recursively)`);
  return { flag, given, root, images };
}

async function sha256(path: string): Promise<string> {
  return sha256Hex(await readFile(path));
}

/** Content hashes of an exclusion set: a folder of images, or a list file of paths relative to the list's folder. */
async function exclusionHashes(given: string, cwd: string): Promise<Map<string, string>> {
  const absolute = resolve(cwd, given);
  const info = await stat(absolute).catch(() => null);
  if (!info) throw new CliError(`--exclude-set ${given}: no such file or folder`);
  let paths: string[];
  if (info.isDirectory()) paths = (await collectImages([absolute], cwd)).images;
  else {
    paths = await readList(absolute, '--exclude-set', given);
  }
  const hashes = new Map<string, string>();
  for (const path of paths) {
    if (!isImagePath(path) && info.isDirectory()) continue;
    try {
      hashes.set(await sha256(path), path);
    } catch (error) {
      throw new CliError(`--exclude-set ${given}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }
  return hashes;
}

export async function runCalibrate(model: string, options: CalibrateCliOptions, context: CommandContext): Promise<ExitCodeValue> {
  const { io } = context;
  const started = performance.now();
  const { policy, flag: policyFlag } = policyOf(options);
  const modelPath = resolve(io.cwd, model);
  const modelInfo = await stat(modelPath).catch(() => null);
  if (!modelInfo?.isFile()) throw new CliError(`model file not found: ${model}`);

  // The output: never the input, never an existing file without --force.
  const outPath = resolve(io.cwd, options.out);
  const outInfo = await stat(outPath).catch(() => null);
  if (outInfo) {
    if (outInfo.isFile() && (await realpath(outPath)) === (await realpath(modelPath))) {
      throw new CliError(`--out ${options.out} is the input model: calibrate writes a new file and never modifies its input`);
    }
  }
  const out = await prepareOutputFile(options.out, '--out', { cwd: io.cwd, force: Boolean(options.force), kind: 'onnx-model' });
  const lock = await acquireOutputLock(`${out.path}.lock`, `--out ${options.out}`, 'residuum calibrate');
  try {
    return await calibrateInto(out, modelPath, options, context, policy, policyFlag, started);
  } finally {
    await lock.release();
  }
}

async function calibrateInto(
  out: OutputFile,
  modelPath: string,
  options: CalibrateCliOptions,
  context: CommandContext,
  policy: ReturnType<typeof policyOf>['policy'],
  policyFlag: string,
  started: number,
): Promise<ExitCodeValue> {
  const { io } = context;
  const inputBytes = new Uint8Array(await readFile(modelPath));
  const card = loadModelCard(inputBytes);

  const sets: CalibrationSet[] = [await readSet('--good', options.good, options.layout, io.cwd)];
  if (options.defective !== undefined) sets.push(await readSet('--defective', options.defective, options.layout, io.cwd));

  // Content hashes: refuse test images (--exclude-set) and images given as both good and defective.
  const hashes = new Map<string, string>();
  const owner = new Map<string, CalibrationSet>();
  for (const set of sets) {
    for (const path of set.images) {
      const hash = await sha256(path).catch((error: NodeJS.ErrnoException) => {
        throw new CliError(`${set.flag} ${set.given}: cannot read ${displayPath(path, io.cwd)} (${error.code ?? error.message})`);
      });
      const earlier = owner.get(hash);
      if (earlier && earlier !== set) {
        throw new CliError(`${displayPath(path, io.cwd)} (${set.flag}) has the same content as ${displayPath(hashes.get(hash) as string, io.cwd)} (${earlier.flag}): an image cannot be both good and defective`);
      }
      hashes.set(hash, path);
      owner.set(hash, set);
    }
  }
  for (const given of options.excludeSet ?? []) {
    const excluded = await exclusionHashes(given, io.cwd);
    const clashes = [...hashes].filter(([hash]) => excluded.has(hash));
    if (clashes.length > 0) {
      const shown = clashes.slice(0, 5).map(([hash, path]) => `${displayPath(path, io.cwd)} = ${displayPath(excluded.get(hash) as string, io.cwd)}`);
      const set = owner.get(clashes[0][0]) as CalibrationSet;
      throw new CliError(
        `${clashes.length} calibration image${clashes.length > 1 ? 's are' : ' is'} in --exclude-set ${given} (same content): ${shown.join('; ')}${clashes.length > 5 ? '; ...' : ''}. ` +
          `Calibrating on them would make the threshold look better on that set than it is; remove them from ${set.flag} ${set.given}`,
      );
    }
  }

  // Score through the runtime, as the line will.
  const pixelThresholdBefore = card.calibration.pixelThreshold;
  const pixelFprExtra = (card.extras as { pixelThreshold?: { fpr?: unknown } } | undefined)?.pixelThreshold?.fpr;
  const pixelFpr = typeof pixelFprExtra === 'number' ? pixelFprExtra : DEFAULT_PIXEL_FPR;
  const inspector = await createNodeInspector(modelPath, { provider: options.ep, batchSize: options.batch, logLevel: context.verbose ? 'warning' : 'fatal' });
  const scores = new Map<CalibrationSet, number[]>();
  const goodPixels: Float32Array[] = [];
  let provider = '';
  try {
    provider = inspector.provider;
    const total = sets.reduce((n, s) => n + s.images.length, 0);
    const progress = startProgress(io, total, 'calibrate');
    try {
      for (const set of sets) {
        const setScores: number[] = [];
        const wantMaps = set.flag === '--good' && pixelThresholdBefore !== undefined;
        for (let start = 0; start < set.images.length; start += options.batch * 4) {
          const chunk = set.images.slice(start, start + options.batch * 4);
          const results = await inspector.inspect(chunk, { returnMaps: wantMaps });
          for (const result of results) {
            if (!result.ok) throw new CliError(`${set.flag} ${set.given}: ${displayPath(result.source, io.cwd)} cannot be scored (${result.error}); remove or replace it, nothing was written`);
            setScores.push(result.score);
            if (wantMaps && result.map) goodPixels.push(result.map.data);
          }
          progress.advance(chunk.length);
        }
        scores.set(set, setScores);
      }
    } finally {
      progress.stop();
    }
  } finally {
    await inspector.dispose();
  }

  const [goodSet, defectiveSet] = sets;
  const describeSet = (set: CalibrationSet) => `${set.images.length} ${set.flag === '--good' ? 'good' : 'defective'} images in ${displayPath(set.root, io.cwd)}`;
  let outcome;
  try {
    outcome = calibrateThreshold(scores.get(goodSet) as number[], defectiveSet ? scores.get(defectiveSet) : undefined, policy, {
      good: describeSet(goodSet),
      ...(defectiveSet ? { defective: describeSet(defectiveSet) } : {}),
    });
  } catch (error) {
    if (error instanceof CalibrationSetError) {
      const set = error.set === 'good' ? goodSet : error.set === 'defective' ? defectiveSet : undefined;
      const named = set ? `${set.flag} ${set.given}` : error.set === 'defective' ? '--defective (not given)' : policyFlag;
      throw new CliError(`${named}: ${error.message}; nothing was written`);
    }
    throw error;
  }

  const record: CalibrationRecord = {
    policy,
    sets: await Promise.all(
      sets.map(async (set) => {
        // Relative to the deepest folder holding every image: the fingerprint does not depend on how the set was named (folder or list).
        const { folder, relPaths } = relativeToCommonFolder(set.images, sep);
        return {
          role: set.flag === '--good' ? ('good' as const) : ('defective' as const),
          count: set.images.length,
          fingerprint: await fingerprintFiles(set.images.map((path, i) => ({ path, relPath: relPaths[i] }))),
          description: `${set.images.length} images under ${basename(folder)}/ (${IMAGE_SET_FINGERPRINT_RULE})`,
        };
      }),
    ),
    expected: outcome.expected,
    warnings: outcome.warnings,
    previousThreshold: card.threshold,
    createdAt: new Date().toISOString(),
    tool: `${context.generator} calibrate`,
  };
  if (pixelThresholdBefore !== undefined && goodPixels.length > 0) {
    const all = new Float32Array(goodPixels.reduce((n, m) => n + m.length, 0));
    let offset = 0;
    for (const map of goodPixels) {
      all.set(map, offset);
      offset += map.length;
    }
    const pixel = targetFprThreshold(all, pixelFpr, 'pixel', 'good calibration pixels');
    record.pixelThreshold = { previous: pixelThresholdBefore, value: pixel.value, fpr: pixelFpr, fittedOn: `${all.length} pixels of ${goodSet.images.length} good calibration images` };
  }
  const newCard = withCalibratedThreshold(card, record, outcome.threshold);
  const outBytes = withModelCard(inputBytes, newCard);
  // Read back what will be written, with the same code the runtimes use.
  const check = loadModelCard(outBytes);
  if (check.threshold.value !== outcome.threshold.value) throw new Error('internal error: the written card does not read back with the calibrated threshold');
  await writeOutputFile(out, outBytes);

  const e = outcome.expected;
  const counts = { threshold: outcome.threshold.value, caught: e.recall?.successes ?? 0, defective: e.recall?.trials ?? 0, rejected: e.falseAlarmRate.successes, good: e.falseAlarmRate.trials };
  io.stdout(
    `threshold ${formatNumber(card.threshold.value)} (${card.threshold.method}) -> ${formatNumber(outcome.threshold.value)} (${policyFlag})\n` +
      (e.recall ? `${describeVerdictCounts(counts, 'on the calibration images')}\n` : `on the calibration images: ${e.falseAlarmRate.successes} of ${e.falseAlarmRate.trials} good parts rejected\n`) +
      `expected false-alarm rate ${intervalText(e.falseAlarmRate)}\n` +
      (e.recall ? `expected recall ${intervalText(e.recall)}; lower bound ${percent(e.recall.lower)}\n` : 'recall: not measured (no --defective images)\n') +
      (record.pixelThreshold ? `pixel threshold ${formatNumber(record.pixelThreshold.previous)} -> ${formatNumber(record.pixelThreshold.value)} (${percent(pixelFpr)} of good calibration pixels above it)\n` : '') +
      `scored on ${provider} through the ONNX file (the runtimes' path${card.mcDropout ? `, ${card.mcDropout.samples} MC-Dropout passes` : ''}), ${formatDuration(performance.now() - started)}\n` +
      `${writtenWord(out) === 'replaced' ? `replaced ${out.replaces} at` : 'wrote'} ${displayPath(out.path, io.cwd)} (input ${displayPath(modelPath, io.cwd)} unchanged)\n`,
  );
  for (const warning of outcome.warnings) io.stderr(`warning: ${warning}\n`);
  return ExitCode.ok;
}
