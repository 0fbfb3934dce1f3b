import { readFile } from 'node:fs/promises';
import { DatasetError } from '../errors.js';
import { normalizeRelPath } from './files.js';
import type { DatasetReport } from './types.js';

/**
 * Reads an exclusion list: one path per line, relative to the dataset root ('/' or '\' separators,
 * an optional leading './'); blank lines and lines starting with '#' are ignored.
 */
export async function readExclusionList(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DatasetError(`cannot read exclusion list ${file}: ${(error as Error).message}`);
  }
  const paths: string[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const normalized = normalizeRelPath(trimmed);
    if (normalized.startsWith('/') || /^[a-zA-Z]:\//.test(normalized) || normalized.split('/').includes('..')) {
      throw new DatasetError(`${file}:${index + 1}: '${trimmed}' must be a path relative to the dataset root`);
    }
    paths.push(normalized);
  });
  return paths;
}

/** Removes excluded items (recorded in the report) and records entries that matched nothing. */
export function applyExclusions<Item extends { relPath: string }>(
  items: Item[],
  exclude: readonly string[] | undefined,
  report: DatasetReport,
): Item[] {
  if (exclude === undefined || exclude.length === 0) return items;
  const wanted = new Set(exclude.map(normalizeRelPath));
  const kept: Item[] = [];
  const matched = new Set<string>();
  for (const item of items) {
    if (wanted.has(item.relPath)) {
      matched.add(item.relPath);
      report.excluded.push(item.relPath);
    } else {
      kept.push(item);
    }
  }
  report.unknownExclusions.push(...[...wanted].filter((p) => !matched.has(p)).sort());
  return kept;
}
