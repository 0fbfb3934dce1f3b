import { readFile } from 'node:fs/promises';
import { fingerprintFromLines, fingerprintLine } from '@residuum/scoring';
import { DatasetError } from '../errors.js';
import { compareRelPath, type IdxDatasetItem } from './types.js';

/** A file to fingerprint; every FileDatasetItem is one. */
export interface FileRef {
  path: string;
  relPath: string;
}

async function entryLine(entry: FileRef | IdxDatasetItem): Promise<string> {
  let bytes: Uint8Array;
  if ('path' in entry) {
    try {
      bytes = await readFile(entry.path);
    } catch (error) {
      throw new DatasetError(`fingerprintFiles: cannot read ${entry.path}: ${(error as Error).message}`);
    }
  } else {
    const size = entry.images.width * entry.images.height;
    bytes = entry.images.data.subarray(entry.index * size, (entry.index + 1) * size);
  }
  return fingerprintLine({ relPath: entry.relPath, bytes });
}

/**
 * The training-data fingerprint of the model card (@residuum/scoring's rule: sha256 over the lines
 * "relPath \t byte size \t sha256(content)" sorted by relPath), read from disk. IDX items count their pixel bytes.
 */
export async function fingerprintFiles(entries: ReadonlyArray<FileRef | IdxDatasetItem>, concurrency = 8): Promise<string> {
  if (!Array.isArray(entries) || entries.length === 0) throw new DatasetError('fingerprintFiles: no files given');
  const sorted = [...entries].sort(compareRelPath);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].relPath === sorted[i - 1].relPath) throw new DatasetError(`fingerprintFiles: ${sorted[i].relPath} is listed twice`);
  }
  const lines = new Array<string>(sorted.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sorted.length) {
      const i = next++;
      lines[i] = await entryLine(sorted[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sorted.length) }, worker));
  return fingerprintFromLines(lines);
}
