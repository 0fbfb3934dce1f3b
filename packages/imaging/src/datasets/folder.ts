import { basename, join } from 'node:path';
import { DatasetError } from '../errors.js';
import { applyExclusions } from './exclusions.js';
import { joinRel, listImages, normalizeRelPath, requireDirectory } from './files.js';
import { compareRelPath, emptyReport, type Dataset, type FileDatasetItem, type Label, type Split } from './types.js';

export interface FolderDatasetOptions {
  /** Folders (relative to root) of normal images for training, e.g. ['train/ok_front']. */
  trainNormalDirs: readonly string[];
  /** Folders of normal images held out for testing, e.g. ['test/ok_front']. */
  testNormalDirs?: readonly string[];
  /** Folders of anomalous images (test only), e.g. ['test/def_front']; the folder name is the defect type. */
  testAnomalyDirs?: readonly string[];
  /** Relative paths to leave out (see readExclusionList). */
  exclude?: readonly string[];
  /** How messages name each folder option: the caller's flags (e.g. `{ trainNormalDirs: '--normal-dir' }`), not these fields. */
  optionNames?: Partial<Record<FolderOption, string>>;
}

type FolderOption = 'trainNormalDirs' | 'testNormalDirs' | 'testAnomalyDirs';

function normalizeRelDir(dir: string, option: string): string {
  if (typeof dir !== 'string' || dir.trim() === '') throw new DatasetError(`${option}: folder names must be non-empty strings`);
  const normalized = normalizeRelPath(dir).replace(/\/+$/, '');
  if (normalized.startsWith('/') || normalized.split('/').includes('..')) {
    throw new DatasetError(`${option}: '${dir}' must be a folder relative to the dataset root`);
  }
  return normalized;
}

/** Labelled folders: named normal folders (train and test) and anomalous folders (test). */
export async function readFolderDataset(root: string, options: FolderDatasetOptions): Promise<Dataset<FileDatasetItem>> {
  await requireDirectory(root, 'dataset root');
  const name = (option: FolderOption): string => options.optionNames?.[option] ?? option;
  const groups: Array<{ option: string; dirs: readonly string[]; label: Label; split: Split }> = [
    { option: name('trainNormalDirs'), dirs: options.trainNormalDirs ?? [], label: 0, split: 'train' },
    { option: name('testNormalDirs'), dirs: options.testNormalDirs ?? [], label: 0, split: 'test' },
    { option: name('testAnomalyDirs'), dirs: options.testAnomalyDirs ?? [], label: 1, split: 'test' },
  ];
  if (groups[0].dirs.length === 0) throw new DatasetError(`${name('trainNormalDirs')} must name at least one folder of normal training images`);
  const report = emptyReport();
  const items: FileDatasetItem[] = [];
  const seen = new Map<string, string>();
  for (const { option, dirs, label, split } of groups) {
    for (const dir of dirs) {
      const relDir = normalizeRelDir(dir, option);
      const previous = seen.get(relDir);
      if (previous !== undefined) throw new DatasetError(`folder '${relDir}' is listed twice (${previous} and ${option})`);
      seen.set(relDir, option);
      for (const name of await listImages(root, relDir, report, `${option} folder '${relDir}'`)) {
        const item: FileDatasetItem = { path: join(root, relDir, name), relPath: joinRel(relDir, name), label, split };
        if (label === 1) item.defectType = basename(relDir);
        items.push(item);
      }
    }
  }
  items.sort(compareRelPath);
  return { root, layout: 'folder', items: applyExclusions(items, options.exclude, report), report };
}
