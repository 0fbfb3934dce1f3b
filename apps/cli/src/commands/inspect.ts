import { basename, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { summarize, type InspectionFailure, type InspectionResult, type InspectionSuccess } from '@residuum/inspection';
import { createNodeInspector } from '@residuum/runtime-node';
import { resolveThreshold } from '@residuum/scoring';
import type { InspectCliOptions } from '../cli.js';
import type { CommandContext } from './context.js';
import { requireModelFile } from './model-source.js';
import { renderTriptychPng } from './heatmaps.js';
import { collectImages, type CollectedImages } from '../util/collect-images.js';
import { CliError } from '../util/errors.js';
import { ExitCode, type ExitCodeValue } from '../util/exit-codes.js';
import { displayPath, formatDuration, formatNumber } from '../util/format.js';
import {
  acquireOutputLocks,
  clearPreviousMaps,
  MAPS_FOLDER_LOCK,
  prepareMapsFolder,
  prepareOutputFile,
  writeFileAtomic,
  writeMapsManifest,
  writeOutputFile,
  writtenWord,
  type MapsFolder,
  type OutputFile,
} from '../output/index.js';
import { NO_PROGRESS, startProgress } from '../util/progress.js';

function verdictWord(result: InspectionSuccess): string {
  return result.isAnomalous ? 'ANOMALY' : 'OK';
}

/** One line per image: path, score, normalized score, verdict (tab-separated, grep-friendly). */
export function formatResultLine(result: InspectionResult, cwd: string): string {
  const path = displayPath(result.source, cwd);
  if (!result.ok) return `${path}\tERROR\t${result.error}`;
  return `${path}\tscore=${formatNumber(result.score)}\tnormalized=${result.normalizedScore.toFixed(3)}\t${verdictWord(result)}`;
}

/** A unique file name per image under the maps folder, mirroring relative folders. */
function mapFileName(source: string, roots: readonly string[], used: Set<string>): string {
  const inside = roots.map((root) => relative(root, source)).find((rel) => rel !== '' && !rel.startsWith('..') && !isAbsolute(rel));
  const rel = inside ?? basename(source);
  const stem = rel.slice(0, rel.length - extname(rel).length).replace(/[\\/]/g, '__');
  let name = `${stem}.png`;
  for (let k = 2; used.has(name); k += 1) name = `${stem}-${k}.png`;
  used.add(name);
  return name;
}

export async function runInspect(model: string, paths: string[], options: InspectCliOptions, context: CommandContext): Promise<ExitCodeValue> {
  const { io } = context;
  const modelPath = await requireModelFile(model, io.cwd);
  const force = Boolean(options.force);
  const json = options.json ? await prepareOutputFile(options.json, '--json', { cwd: io.cwd, force, kind: 'inspect-json' }) : undefined;
  const maps = options.maps ? await prepareMapsFolder(options.maps, '--maps', { cwd: io.cwd, force }) : undefined;
  const collected = await collectImages(paths, io.cwd);
  for (const skipped of collected.skipped) io.stderr(`skipped ${displayPath(skipped.path, io.cwd)}: ${skipped.reason}\n`);
  if (collected.images.length === 0 && collected.missing.length === 0) {
    throw new CliError(`no images found in ${paths.join(', ')} (extensions .png .jpg .jpeg .bmp .tif .tiff .webp)`);
  }

  const locks = await acquireOutputLocks(
    [
      ...(json ? [{ lockPath: `${json.path}.lock`, what: `--json ${options.json}` }] : []),
      ...(maps ? [{ lockPath: join(maps.path, MAPS_FOLDER_LOCK), what: `--maps ${options.maps}` }] : []),
    ],
    'residuum inspect',
  );
  try {
    if (maps) await clearPreviousMaps(maps, context.generator);
    context.interruption.handleGracefully();
    const loadStarted = performance.now();
    const inspector = await createNodeInspector(modelPath, { provider: options.ep, batchSize: options.batch, logLevel: context.verbose ? 'warning' : 'fatal' });
    const loadMs = performance.now() - loadStarted;
    try {
      return await inspectWith(inspector, paths, options, context, { collected, modelPath, json, maps, loadMs });
    } finally {
      await inspector.dispose();
    }
  } finally {
    await Promise.all(locks.map((lock) => lock.release()));
  }
}

type NodeInspectorInstance = Awaited<ReturnType<typeof createNodeInspector>>;

async function inspectWith(
  inspector: NodeInspectorInstance,
  paths: string[],
  options: InspectCliOptions,
  context: CommandContext,
  { collected, modelPath, json, maps, loadMs }: { collected: CollectedImages; modelPath: string; json: OutputFile | undefined; maps: MapsFolder | undefined; loadMs: number },
): Promise<ExitCodeValue> {
  const { io, interruption } = context;
  const mapsDir = maps?.path;
  const started = performance.now();
  const results: InspectionResult[] = collected.missing.map(
    (missing): InspectionFailure => ({ ok: false, source: missing.path, error: missing.reason }),
  );
  for (const result of results) io.stdout(formatResultLine(result, io.cwd) + '\n');
  const mapsWritten: Record<string, string> = {};
  const mapErrors: string[] = [];
  const usedNames = new Set<string>();
  const roots = paths.map((p) => resolve(io.cwd, p));
  // Result lines on a terminal are the progress; a bar on the same screen would garble them.
  const progress = io.stdoutInteractive ? NO_PROGRESS : startProgress(io, collected.images.length, 'inspect');
  try {
    // One pipeline over the whole list (decode ahead, infer, score behind); each batch's results
    // stream out as soon as they are scored.
    const batches = inspector.inspectBatches(collected.images, { threshold: options.threshold, returnMaps: Boolean(mapsDir), mcSamples: options.mcSamples });
    for await (const batchResults of batches) {
      for (const result of batchResults) {
        results.push(result);
        io.stdout(formatResultLine(result, io.cwd) + '\n');
        if (mapsDir && result.ok) {
          try {
            const name = mapFileName(result.source, roots, usedNames);
            await writeFileAtomic(join(mapsDir, name), await renderTriptychPng(result, inspector.card, result.threshold), '--maps');
            mapsWritten[result.source] = join(mapsDir, name);
          } catch (error) {
            mapErrors.push(`${displayPath(result.source, io.cwd)}: ${(error as Error).message}`);
          }
        }
      }
      progress.advance(batchResults.length);
      if (interruption.interrupted) break;
    }
  } finally {
    progress.stop();
  }
  const interrupted = interruption.interrupted;
  const notInspected = collected.missing.length + collected.images.length - results.length;
  const wallMs = performance.now() - started;
  const provider = inspector.provider;
  const attempts = [...inspector.attempts];
  const card = inspector.card;

  const summary = summarize(results, wallMs);
  const { anomalous, errors } = summary;
  const threshold = resolveThreshold(card, options.threshold);
  const imagesPerSecond = summary.imagesPerSecond ?? 0;
  const failedAttempts = attempts.filter((a) => !a.ok);
  const latency =
    summary.latencyP50Ms !== null && summary.latencyP95Ms !== null
      ? `, latency p50 ${formatNumber(summary.latencyP50Ms)} ms, p95 ${formatNumber(summary.latencyP95Ms)} ms`
      : '';

  io.stdout(
    (interrupted ? `\ninterrupted: ${notInspected} of ${collected.missing.length + collected.images.length} images not inspected` : '') +
    `\n${results.length} images: ${summary.ok} ok, ${anomalous} anomalous, ${errors} unreadable` +
      (collected.skipped.length ? `, ${collected.skipped.length} non-image files skipped` : '') +
      '\n' +
      `model ${card.name} (${card.family}), threshold ${formatNumber(threshold)}${options.threshold !== undefined ? ' (override)' : ''}\n` +
      `provider ${provider}${failedAttempts.map((a) => `; ${a.provider} not used: ${a.reason ?? 'unknown reason'}`).join('')}\n` +
      `${formatNumber(imagesPerSecond)} images/s over ${formatDuration(wallMs)}${latency}; model load ${formatDuration(loadMs)}\n`,
  );
  if (maps) {
    await writeMapsManifest(maps, context.generator, Object.values(mapsWritten).map((path) => basename(path)), interrupted);
    const replaced = maps.previousMaps.length ? ` (the ${maps.previousMaps.length} heatmaps of the earlier run there were removed)` : '';
    io.stdout(`heatmaps: ${Object.keys(mapsWritten).length} written to ${displayPath(maps.path, io.cwd)}${replaced}\n`);
    if (maps.otherFiles.length) {
      io.stderr(`note: --maps ${displayPath(maps.path, io.cwd)} also holds ${maps.otherFiles.length} file(s) this run did not write (e.g. ${maps.otherFiles.slice(0, 3).join(', ')}); they were left as they are\n`);
    }
  }
  for (const problem of mapErrors) io.stderr(`heatmap not written for ${problem}\n`);

  if (json) {
    const report = {
      generator: context.generator,
      command: 'inspect',
      createdAt: new Date().toISOString(),
      ...(interrupted ? { interrupted: true, notInspected } : {}),
      model: { path: modelPath, name: card.name, family: card.family, cardThreshold: card.threshold.value },
      threshold,
      provider,
      attempts,
      summary: {
        total: results.length,
        ok: summary.ok,
        anomalous,
        errors,
        skippedNonImages: collected.skipped.length,
        imagesPerSecond,
        latencyP50Ms: summary.latencyP50Ms,
        latencyP95Ms: summary.latencyP95Ms,
        inspectMs: wallMs,
        modelLoadMs: loadMs,
      },
      results: results.map((r) =>
        r.ok
          ? {
              path: r.source,
              ok: true,
              score: r.score,
              normalizedScore: r.normalizedScore,
              isAnomalous: r.isAnomalous,
              threshold: r.threshold,
              timings: r.timings,
              ...(mapsWritten[r.source] ? { heatmap: mapsWritten[r.source] } : {}),
            }
          : { path: r.source, ok: false, error: r.error },
      ),
      skipped: collected.skipped,
    };
    await writeOutputFile(json, JSON.stringify(report, null, 2) + '\n');
    io.stdout(`results: ${displayPath(json.path, io.cwd)} (${writtenWord(json)}${interrupted ? ', marked interrupted' : ''})\n`);
  }
  if (interrupted) return ExitCode.interrupted;
  if (anomalous > 0) return ExitCode.anomalous;
  if (errors > 0) return ExitCode.unreadableImages;
  return ExitCode.ok;
}
