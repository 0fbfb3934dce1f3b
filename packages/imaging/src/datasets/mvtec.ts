import { readdir } from 'node:fs/promises';
import { join, parse } from 'node:path';
import { DatasetError } from '../errors.js';
import { applyExclusions } from './exclusions.js';
import { isImageFileName, joinRel, listImages, requireDirectory } from './files.js';
import { compareRelPath, emptyReport, type Dataset, type DatasetReport, type FileDatasetItem } from './types.js';

export interface MvtecOptions {
  /** Relative paths to leave out (see readExclusionList). */
  exclude?: readonly string[];
}

async function directoryEntries(path: string): Promise<Array<{ name: string; isDirectory: boolean }>> {
  const entries = await readdir(path, { withFileTypes: true });
  return entries.map((e) => ({ name: e.name, isDirectory: e.isDirectory() })).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Mask file names of ground_truth/<defect>, or an empty set when that folder does not exist. */
async function maskNames(root: string, defect: string): Promise<Set<string>> {
  try {
    return new Set((await readdir(join(root, 'ground_truth', defect))).filter(isImageFileName));
  } catch {
    return new Set();
  }
}

/**
 * MVTec AD layout: train/good (normal, training), test/good (normal), test/<defect> (anomalous),
 * ground_truth/<defect>/<stem>_mask.png. Images may be any supported format and size.
 */
export async function readMvtec(root: string, options: MvtecOptions = {}): Promise<Dataset<FileDatasetItem>> {
  await requireDirectory(root, 'MVTec dataset root');
  const report: DatasetReport = emptyReport();
  const items: FileDatasetItem[] = [];

  for (const name of await listImages(root, 'train/good', report, 'MVTec training folder train/good')) {
    items.push({ path: join(root, 'train', 'good', name), relPath: joinRel('train/good', name), label: 0, split: 'train' });
  }
  for (const entry of await directoryEntries(join(root, 'train'))) {
    if (entry.name !== 'good') {
      report.ignored.push({ relPath: joinRel('train', entry.name), reason: 'not train/good (training uses normal images only)' });
    }
  }

  await requireDirectory(join(root, 'test'), 'MVTec test folder');
  const testEntries = await directoryEntries(join(root, 'test'));
  const classes = testEntries.filter((e) => e.isDirectory).map((e) => e.name);
  for (const entry of testEntries.filter((e) => !e.isDirectory)) {
    report.ignored.push({ relPath: joinRel('test', entry.name), reason: 'file directly in test/ (expected class folders)' });
  }
  if (classes.length === 0) throw new DatasetError(`MVTec test folder has no class folders: ${join(root, 'test')}`);

  const usedMasks = new Set<string>();
  for (const defect of classes) {
    const relDir = joinRel('test', defect);
    const names = await listImages(root, relDir, report, `MVTec test folder ${relDir}`);
    const masks = defect === 'good' ? new Set<string>() : await maskNames(root, defect);
    for (const name of names) {
      const relPath = joinRel(relDir, name);
      if (defect === 'good') {
        items.push({ path: join(root, 'test', defect, name), relPath, label: 0, split: 'test' });
        continue;
      }
      const maskName = `${parse(name).name}_mask.png`;
      const item: FileDatasetItem = { path: join(root, 'test', defect, name), relPath, label: 1, split: 'test', defectType: defect };
      if (masks.has(maskName)) {
        item.maskPath = join(root, 'ground_truth', defect, maskName);
        usedMasks.add(joinRel('ground_truth', defect, maskName));
      } else {
        report.missingMasks.push(relPath);
      }
      items.push(item);
    }
  }

  const groundTruth = join(root, 'ground_truth');
  const groundTruthEntries = await directoryEntries(groundTruth).catch(() => []);
  for (const entry of groundTruthEntries) {
    const relDir = joinRel('ground_truth', entry.name);
    if (!entry.isDirectory || !classes.includes(entry.name)) {
      report.orphanMasks.push(relDir);
      continue;
    }
    for (const name of (await readdir(join(groundTruth, entry.name))).sort()) {
      if (!usedMasks.has(joinRel(relDir, name))) report.orphanMasks.push(joinRel(relDir, name));
    }
  }

  items.sort(compareRelPath);
  return { root, layout: 'mvtec', items: applyExclusions(items, options.exclude, report), report };
}
