import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { DatasetError } from '../errors.js';
import { IMAGE_EXTENSIONS } from '../format.js';
import type { DatasetReport } from './types.js';

export function isImageFileName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

/** '/'-joined relative path, whatever the platform separator. */
export function joinRel(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}

/** A user-given relative path in '/' form without leading './' (Windows separators accepted). */
export function normalizeRelPath(path: string): string {
  return path.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
}

/** Throws a DatasetError unless `path` is an existing directory. */
export async function requireDirectory(path: string, what: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch {
    throw new DatasetError(`${what} not found: ${path}`);
  }
  if (!isDirectory) throw new DatasetError(`${what} is not a directory: ${path}`);
}

/**
 * Image file names directly inside `dir` (sorted). Anything else there (other files, sub-folders)
 * goes into `report.ignored`. An empty result is an error naming the folder.
 */
export async function listImages(root: string, relDir: string, report: DatasetReport, what: string): Promise<string[]> {
  const dir = join(root, relDir);
  await requireDirectory(dir, what);
  const entries = await readdir(dir, { withFileTypes: true });
  const images: string[] = [];
  for (const entry of entries) {
    const relPath = joinRel(relDir, entry.name);
    if (entry.isDirectory()) {
      report.ignored.push({ relPath, reason: 'sub-folder (not searched)' });
    } else if (!isImageFileName(entry.name)) {
      report.ignored.push({ relPath, reason: `not an image file name (extension '${extname(entry.name)}')` });
    } else {
      images.push(entry.name);
    }
  }
  if (images.length === 0) {
    const others = entries.length === 0 ? 'it is empty' : `it holds ${entries.length} other entr${entries.length === 1 ? 'y' : 'ies'}`;
    throw new DatasetError(`${what} has no images (${[...IMAGE_EXTENSIONS].join(' ')}): ${dir} (${others})`);
  }
  return images.sort();
}
