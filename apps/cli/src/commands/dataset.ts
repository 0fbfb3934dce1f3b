import { resolve } from 'node:path';
import {
  encodePng,
  isFileItem,
  readExclusionList,
  readFolderDataset,
  readMnist,
  readMvtec,
  type Dataset,
  type DatasetItem,
} from '@residuum/imaging';
import type { EvaluateCliOptions } from '../cli.js';
import { CliError } from '../util/errors.js';

export const MISSING_MASK_REASON = 'defective image without a ground-truth mask (left out of pixel metrics)';

/**
 * The notes as stderr lines: one per note, except missing masks, which make one summary line
 * (an MVTec folder without ground_truth/ would otherwise print one line per defective image).
 */
export function noteLines(notes: ReadonlyArray<{ path: string; reason: string }>): string[] {
  const missing = notes.filter((n) => n.reason === MISSING_MASK_REASON);
  const lines = notes.filter((n) => n.reason !== MISSING_MASK_REASON).map((n) => `note: ${n.path}: ${n.reason}`);
  if (missing.length === 1) lines.push(`note: ${missing[0].path}: ${MISSING_MASK_REASON}`);
  else if (missing.length > 1) lines.push(`note: ${missing.length} defective images have no ground-truth mask (e.g. ${missing[0].path}); they are left out of pixel metrics (listed in the JSON notes)`);
  return lines;
}

export interface EvaluationSet {
  root: string;
  layout: EvaluateCliOptions['layout'];
  /** Test items (label 0 good, 1 defective), in the reader's deterministic order. */
  items: DatasetItem[];
  /** What the reader saw but did not turn into an item (non-image files, unknown exclusions). */
  notes: Array<{ path: string; reason: string }>;
  excluded: number;
  description: Record<string, unknown>;
}

/** The images `evaluate` scores: the test split of MVTec / MNIST, or the named folders. */
export async function readEvaluationSet(options: EvaluateCliOptions, cwd: string): Promise<EvaluationSet> {
  const root = resolve(cwd, options.data);
  const exclude = options.exclude ? await readExclusionList(resolve(cwd, options.exclude)) : undefined;
  let dataset: Dataset;
  let items: DatasetItem[];
  if (options.layout === 'folder') {
    if (!options.normalDir?.length || !options.anomalyDir?.length) {
      throw new CliError('--layout folder needs at least one --normal-dir and one --anomaly-dir (folders relative to --data)');
    }
    if (options.digit !== undefined) throw new CliError('--digit applies to --layout mnist only');
    // Every named folder is evaluation data; the reader calls normal folders "train" when no test split is named.
    dataset = await readFolderDataset(root, {
      trainNormalDirs: options.normalDir,
      testAnomalyDirs: options.anomalyDir,
      exclude,
      optionNames: { trainNormalDirs: '--normal-dir', testAnomalyDirs: '--anomaly-dir' },
    });
    items = dataset.items;
  } else {
    if (options.normalDir?.length || options.anomalyDir?.length) {
      throw new CliError(`--normal-dir and --anomaly-dir apply to --layout folder only (the ${options.layout} layout names its own folders)`);
    }
    if (options.layout === 'mvtec') {
      if (options.digit !== undefined) throw new CliError('--digit applies to --layout mnist only');
      dataset = await readMvtec(root, { exclude });
    } else {
      if (options.digit === undefined) throw new CliError('--layout mnist needs --digit D (the digit that counts as normal)');
      if (options.digit > 9) throw new CliError(`--digit must be 0-9, got ${options.digit}`);
      if (exclude) throw new CliError('--exclude is not supported with --layout mnist');
      dataset = await readMnist(root, { normalDigit: options.digit });
    }
    items = dataset.items.filter((item) => item.split === 'test');
  }
  const notes = [
    ...dataset.report.ignored.map((entry) => ({ path: entry.relPath, reason: entry.reason })),
    ...dataset.report.unknownExclusions.map((relPath) => ({ path: relPath, reason: 'listed in --exclude but not in the dataset' })),
    ...dataset.report.missingMasks.map((relPath) => ({ path: relPath, reason: MISSING_MASK_REASON })),
  ];
  const normal = items.filter((item) => item.label === 0).length;
  const anomalous = items.length - normal;
  if (normal === 0 || anomalous === 0) {
    throw new CliError(`evaluate needs good and defective images: found ${normal} good and ${anomalous} defective in ${options.data}`);
  }
  return {
    root,
    layout: options.layout,
    items,
    notes,
    excluded: dataset.report.excluded.length,
    description: {
      root,
      layout: options.layout,
      ...(options.normalDir ? { normalDirs: options.normalDir } : {}),
      ...(options.anomalyDir ? { anomalyDirs: options.anomalyDir } : {}),
      ...(options.exclude ? { exclude: resolve(cwd, options.exclude), excluded: dataset.report.excluded.length } : {}),
      ...(options.digit !== undefined ? { normalDigit: options.digit } : {}),
      normal,
      anomalous,
    },
  };
}

/** What the Node inspector reads: the file path, or a PNG of an IDX (MNIST) image. */
export async function inspectorSource(item: DatasetItem): Promise<string | Buffer> {
  if (isFileItem(item)) return item.path;
  const { images, index } = item;
  const plane = images.width * images.height;
  const pixels = images.data.subarray(index * plane, (index + 1) * plane);
  return encodePng({ data: pixels, width: images.width, height: images.height, channels: 1 });
}

/** The path shown and stored for an item: the file, or root/relPath for IDX images. */
export function itemPath(item: DatasetItem, root: string): string {
  return isFileItem(item) ? item.path : `${root}/${item.relPath}`;
}
