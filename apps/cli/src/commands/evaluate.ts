import { resolve } from 'node:path';
import type { InspectionResult, InspectionSuccess } from '@residuum/inspection';
import { describeVerdictCounts, isAnomalous, resolveThreshold, type SegmentationSample } from '@residuum/scoring';
import { createNodeInspector } from '@residuum/runtime-node';
import { isFileItem, loadMask, type DatasetItem } from '@residuum/imaging';
import type { EvaluateCliOptions } from '../cli.js';
import type { CommandContext } from './context.js';
import { inspectorSource, itemPath, noteLines, readEvaluationSet, type EvaluationSet } from './dataset.js';
import { panelCaption, renderTriptychPng } from './heatmaps.js';
import { computeDefectTypeMetrics, computeImageMetrics, computePixelMetrics, describeOperatingPoints, type ImageMetrics, type PixelMetrics } from './metrics.js';
import { requireModelFile } from './model-source.js';
import { renderEvaluationReport, type ReportGalleryItem } from '../report/evaluation-report.js';
import { CliError } from '../util/errors.js';
import { ExitCode, type ExitCodeValue } from '../util/exit-codes.js';
import { displayPath, formatDuration, formatNumber } from '../util/format.js';
import { acquireOutputLocks, prepareOutputFile, writeOutputFile, writtenWord, type OutputFile } from '../output/index.js';
import { startProgress } from '../util/progress.js';

export interface PerImageResult {
  path: string;
  /** 1 defective, 0 good. */
  label: 0 | 1;
  score: number;
  normalizedScore: number;
  isAnomalous: boolean;
  defectType?: string;
}

export async function runEvaluate(model: string, options: EvaluateCliOptions, context: CommandContext): Promise<ExitCodeValue> {
  const { io } = context;
  const force = Boolean(options.force);
  const modelPath = await requireModelFile(model, io.cwd);
  if (options.report && resolve(io.cwd, options.report) === resolve(io.cwd, options.json)) throw new CliError('--json and --report name the same file; give two paths');
  const json = await prepareOutputFile(options.json, '--json', { cwd: io.cwd, force, kind: 'evaluate-json' });
  const report = options.report ? await prepareOutputFile(options.report, '--report', { cwd: io.cwd, force, kind: 'report-html' }) : undefined;
  const set = await readEvaluationSet(options, io.cwd);
  for (const line of noteLines(set.notes)) io.stderr(`${line}\n`);

  const locks = await acquireOutputLocks(
    [json, ...(report ? [report] : [])].map((file) => ({ lockPath: `${file.path}.lock`, what: `${file.option} ${displayPath(file.path, io.cwd)}` })),
    'residuum evaluate',
  );
  try {
    context.interruption.handleGracefully();
    const started = performance.now();
    const inspector = await createNodeInspector(modelPath, { provider: options.ep, batchSize: options.batch, logLevel: context.verbose ? 'warning' : 'fatal' });
    try {
      return await evaluateWith(inspector, set, options, context, { modelPath, json, report, started });
    } finally {
      await inspector.dispose();
    }
  } finally {
    await Promise.all(locks.map((lock) => lock.release()));
  }
}

/**
 * Metrics need both classes: when every good or every defective image was unreadable, say
 * which files (exit 3) instead of failing inside the metrics.
 */
function requireBothClasses(perImage: readonly PerImageResult[], skipped: ReadonlyArray<{ path: string; reason: string; label: 0 | 1 }>, cwd: string): void {
  for (const label of [1, 0] as const) {
    if (perImage.some((r) => r.label === label)) continue;
    const unreadable = skipped.filter((entry) => entry.label === label);
    const which = label === 1 ? 'defective' : 'good';
    const named = unreadable.slice(0, 5).map((entry) => `${displayPath(entry.path, cwd)} (${entry.reason})`).join('; ');
    throw new CliError(
      `no ${which} image could be read (${unreadable.length} unreadable${unreadable.length > 5 ? ', first 5' : ''}: ${named}): the metrics need both good and defective images`,
      ExitCode.unreadableImages,
    );
  }
}

type NodeInspectorInstance = Awaited<ReturnType<typeof createNodeInspector>>;

async function evaluateWith(
  inspector: NodeInspectorInstance,
  set: EvaluationSet,
  options: EvaluateCliOptions,
  context: CommandContext,
  { modelPath, json, report, started }: { modelPath: string; json: OutputFile; report: OutputFile | undefined; started: number },
): Promise<ExitCodeValue> {
  const { io, interruption } = context;
  const jsonPath = json.path;
  const reportPath = report?.path;
  const card = inspector.card;
  const threshold = resolveThreshold(card, options.threshold);
  const withPixels = set.items.some((item) => isFileItem(item) && item.maskPath !== undefined);
  const pixelSamples: SegmentationSample[] = [];
  const maskProblems: Array<{ path: string; reason: string }> = [];
  const perImage: PerImageResult[] = [];
  const scoredItems: DatasetItem[] = [];
  const skipped: Array<{ path: string; reason: string; label: 0 | 1 }> = [];
  let inspectMs = 0;

  const progress = startProgress(io, set.items.length, 'evaluate');
  try {
    const chunk = options.batch * 4;
    for (let start = 0; start < set.items.length; start += chunk) {
      const items = set.items.slice(start, start + chunk);
      const sources = await Promise.all(items.map(inspectorSource));
      const chunkStarted = performance.now();
      const results: InspectionResult[] = await inspector.inspect(sources, { threshold, returnMaps: withPixels, mcSamples: options.mcSamples });
      inspectMs += performance.now() - chunkStarted;
      for (const [k, result] of results.entries()) {
        const item = items[k];
        const path = itemPath(item, set.root);
        if (!result.ok) {
          skipped.push({ path, reason: result.error, label: item.label });
          continue;
        }
        scoredItems.push(item);
        perImage.push({
          path,
          label: item.label,
          score: result.score,
          normalizedScore: result.normalizedScore,
          isAnomalous: isAnomalous(result.score, threshold),
          ...(item.defectType ? { defectType: item.defectType } : {}),
        });
        // A defective image without a mask cannot say which pixels are bad: left out of pixel metrics.
        const hasMask = isFileItem(item) && item.maskPath !== undefined;
        if (withPixels && result.map && (hasMask || item.label === 0)) {
          const { width, height } = result.map;
          try {
            const mask =
              isFileItem(item) && item.maskPath
                ? await loadMask(item.maskPath, width, height, { resize: card.preprocessing.resize })
                : new Uint8Array(width * height);
            pixelSamples.push({ map: result.map.data, mask, width, height });
          } catch (error) {
            maskProblems.push({ path, reason: `mask not readable, left out of pixel metrics: ${(error as Error).message}` });
          }
        }
      }
      progress.advance(items.length);
      if (interruption.interrupted) break;
    }
  } finally {
    progress.stop();
  }
  const interrupted = interruption.interrupted;
  const notScored = set.items.length - perImage.length - skipped.length;
  if (interrupted) io.stderr(`interrupted: ${notScored} of ${set.items.length} images not scored; the metrics cover the ${perImage.length} scored\n`);
  try {
    requireBothClasses(perImage, skipped, io.cwd);
  } catch (error) {
    if (!interrupted) throw error;
    // Too early for metrics: the scores so far are still kept.
    const partial = { generator: context.generator, command: 'evaluate', createdAt: new Date().toISOString(), interrupted: true, notScored, image: null, perImage, skipped };
    await writeOutputFile(json, JSON.stringify(partial, null, 2) + '\n');
    io.stdout(`no metrics (interrupted before both classes were scored); scores so far: ${displayPath(jsonPath, io.cwd)} (${writtenWord(json)}, marked interrupted)\n`);
    return ExitCode.interrupted;
  }

  const scores = Float64Array.from(perImage, (r) => r.score);
  const labels = Uint8Array.from(perImage, (r) => r.label);
  const image: ImageMetrics = computeImageMetrics(scores, labels, threshold);
  const perDefectType = computeDefectTypeMetrics(perImage, threshold);
  const pixel: PixelMetrics | undefined = withPixels ? computePixelMetrics(pixelSamples) : undefined;
  pixelSamples.length = 0;
  const totalMs = performance.now() - started;
  const imagesPerSecond = perImage.length > 0 ? (perImage.length * 1000) / totalMs : 0;
  const normal = perImage.filter((r) => r.label === 0).length;
  const anomalous = perImage.length - normal;

  const result = {
    generator: context.generator,
    command: 'evaluate',
    createdAt: new Date().toISOString(),
    ...(interrupted ? { interrupted: true, notScored } : {}),
    model: {
      path: modelPath,
      name: card.name,
      family: card.family,
      input: card.input.shape,
      cardThreshold: card.threshold.value,
      thresholdMethod: card.threshold.method,
      createdAt: card.createdAt,
      trainingData: card.training.dataDescription,
    },
    provider: inspector.provider,
    attempts: inspector.attempts,
    dataset: { ...set.description, scored: perImage.length, normal, anomalous, skipped: skipped.length },
    image: {
      auroc: image.auroc,
      ap: image.ap,
      f1: image.f1,
      precision: image.precision,
      recall: image.recall,
      f1Max: image.f1Max,
      f1MaxThreshold: image.f1MaxThreshold,
      accuracy: image.accuracy,
      balancedAccuracy: image.balancedAccuracy,
      threshold,
      confusion: image.confusion,
      atThreshold: image.atThreshold,
      operatingPoints: image.operatingPoints,
      perDefectType,
    },
    ...(pixel ? { pixel: { auroc: pixel.auroc, aupro: pixel.aupro, auproFprLimit: 0.3, resolution: 'model input' } } : {}),
    perImage,
    skipped,
    notes: [...set.notes, ...maskProblems],
    timings: { totalMs, inspectMs, imagesPerSecond },
  };
  await writeOutputFile(json, JSON.stringify(result, null, 2) + '\n');

  if (report) {
    const gallery = async (wanted: 'fp' | 'fn'): Promise<ReportGalleryItem[]> => {
      const candidates = perImage
        .map((r, index) => ({ r, index }))
        .filter(({ r }) => (wanted === 'fp' ? r.label === 0 && r.isAnomalous : r.label === 1 && !r.isAnomalous))
        .sort((a, b) => (wanted === 'fp' ? b.r.score - a.r.score : a.r.score - b.r.score))
        .slice(0, options.gallery);
      if (candidates.length === 0) return [];
      const sources = await Promise.all(candidates.map(({ index }) => inspectorSource(scoredItems[index])));
      const rendered = await inspector.inspect(sources, { threshold, returnMaps: true, mcSamples: options.mcSamples });
      return Promise.all(
        candidates.map(async ({ r }, k): Promise<ReportGalleryItem> => {
          const again = rendered[k];
          const base = { path: displayPath(r.path, io.cwd), label: r.label, score: r.score };
          if (!again?.ok) return { ...base, note: `not rendered: ${again?.ok === false ? again.error : 'no result'}` };
          try {
            return { ...base, png: await renderTriptychPng(again as InspectionSuccess, card, threshold), caption: panelCaption(again as InspectionSuccess) };
          } catch (error) {
            return { ...base, note: `not rendered: ${(error as Error).message}` };
          }
        }),
      );
    };
    const html = renderEvaluationReport({
      generator: context.generator,
      ...(interrupted ? { interrupted: `interrupted: ${notScored} of ${set.items.length} images not scored` } : {}),
      generatedAt: result.createdAt,
      model: {
        path: displayPath(modelPath, io.cwd),
        name: card.name,
        family: card.family,
        input: `${card.preprocessing.width}x${card.preprocessing.height}x${card.preprocessing.channels}`,
        thresholdMethod: card.threshold.method,
        cardThreshold: card.threshold.value,
      },
      provider: inspector.provider,
      dataset: { root: displayPath(set.root, io.cwd), layout: set.layout, normalCount: normal, anomalousCount: anomalous, skipped },
      threshold,
      image: {
        auroc: image.auroc,
        ap: image.ap,
        f1: image.f1,
        precision: image.precision,
        recall: image.recall,
        accuracy: image.accuracy,
        balancedAccuracy: image.balancedAccuracy,
        f1Max: image.f1Max,
        f1MaxThreshold: image.f1MaxThreshold,
      },
      ...(pixel ? { pixel } : {}),
      confusion: image.confusion,
      atThreshold: image.atThreshold,
      operatingPoints: image.operatingPoints,
      perDefectType,
      scores: {
        normal: perImage.filter((r) => r.label === 0).map((r) => r.score),
        anomalous: perImage.filter((r) => r.label === 1).map((r) => r.score),
      },
      roc: image.roc,
      pr: image.pr,
      gallery: { falsePositives: await gallery('fp'), falseNegatives: await gallery('fn') },
      timings: { totalMs, imagesPerSecond },
    });
    await writeOutputFile(report, html);
  }

  const c = image.confusion;
  const where = options.threshold !== undefined ? 'at the given threshold' : "at the model's threshold";
  io.stdout(
    `${describeVerdictCounts(image.atThreshold, where)}\n` +
    `${perImage.length} images scored (${normal} good, ${anomalous} defective)${skipped.length ? `, ${skipped.length} skipped` : ''}${set.excluded ? `, ${set.excluded} excluded` : ''}\n` +
      `image AUROC ${formatNumber(image.auroc)}  AP ${formatNumber(image.ap)}  F1 ${formatNumber(image.f1)}  F1max ${formatNumber(image.f1Max)}  balanced accuracy ${formatNumber(image.balancedAccuracy)}\n` +
      `operating points: ${describeOperatingPoints(image.operatingPoints)}\n` +
      `threshold ${formatNumber(threshold)}${options.threshold !== undefined ? ' (override)' : ` (model card, ${card.threshold.method})`}: TP ${c.tp}  FP ${c.fp}  TN ${c.tn}  FN ${c.fn}\n` +
      (pixel ? `pixel AUROC ${formatNumber(pixel.auroc)}  AUPRO(0.3) ${formatNumber(pixel.aupro)}\n` : '') +
      `provider ${inspector.provider}, ${formatNumber(imagesPerSecond)} images/s, ${formatDuration(totalMs)} in all\n` +
      `results: ${displayPath(jsonPath, io.cwd)} (${writtenWord(json)})${report && reportPath ? `\nreport: ${displayPath(reportPath, io.cwd)} (${writtenWord(report)})` : ''}\n`,
  );
  for (const entry of skipped) io.stderr(`skipped ${displayPath(entry.path, io.cwd)}: ${entry.reason}\n`);
  for (const entry of maskProblems) io.stderr(`note: ${displayPath(entry.path, io.cwd)}: ${entry.reason}\n`);
  if (interrupted) return ExitCode.interrupted;
  return skipped.length > 0 ? ExitCode.unreadableImages : ExitCode.ok;
}
