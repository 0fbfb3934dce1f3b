import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CliError } from '../util/errors.js';
import { KIND_NAMES, identifyExisting, type OutputKind } from './kinds.js';

/** An output file checked before the work; `replaced` says an earlier output of the same kind is replaced. */
export interface OutputFile {
  readonly path: string;
  /** The flag that named it (`--json`), for messages. */
  readonly option: string;
  readonly kind: OutputKind;
  /** What was there before and is being replaced (undefined: nothing was there). */
  readonly replaces?: string;
}

const SYSTEM_REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'part of the path is a file, not a folder',
  EISDIR: 'is a folder',
};

/** "permission denied" for EACCES and the like; the message otherwise. */
export function systemReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return (code && SYSTEM_REASONS[code]) ?? (error as Error).message;
}

export async function statOrNull(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') throw new CliError(`${path}: part of the path is a file, not a folder`);
    throw error;
  }
}

/** Creates the folder if needed and proves it takes a file now, before any work is done. */
export async function requireWritableFolder(folder: string, option: string, given: string): Promise<void> {
  const existing = await statOrNull(folder);
  if (existing && !existing.isDirectory()) throw new CliError(`${option} ${given}: ${folder} is not a folder`);
  try {
    await mkdir(folder, { recursive: true });
    const probe = join(folder, `.residuum-write-check.${process.pid}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (error) {
    throw new CliError(`${option} ${given}: cannot write into ${folder}: ${systemReason(error)}`, undefined, { cause: error });
  }
}

/**
 * Checks an output file path before any work starts: not a folder; an existing file is
 * replaced without --force only when it is an earlier residuum output of the same kind
 * (an ONNX model never is); the folder must accept a file. Returns the absolute path.
 */
export async function prepareOutputFile(
  path: string,
  option: string,
  { cwd, force, kind }: { cwd: string; force: boolean; kind: OutputKind },
): Promise<OutputFile> {
  const absolute = resolve(cwd, path);
  const existing = await statOrNull(absolute);
  if (existing?.isDirectory()) {
    const example = join(path, `result${kind === 'report-html' || kind === 'plant-report-html' ? '.html' : kind === 'onnx-model' ? '.onnx' : '.json'}`);
    throw new CliError(`${option} ${path}: is a folder; give a file path such as ${example}`);
  }
  if (existing && !existing.isFile()) throw new CliError(`${option} ${path}: exists and is not a regular file`);
  let replaces: string | undefined;
  if (existing) {
    const content = await identifyExisting(absolute).catch((error: unknown) => {
      throw new CliError(`${option} ${path}: exists and cannot be read: ${systemReason(error)}`, undefined, { cause: error });
    });
    replaces = content.kind === 'other' ? content.description : KIND_NAMES[content.kind];
    const sameKind = content.kind === kind && kind !== 'onnx-model';
    if (!sameKind && !force) {
      const what = content.kind === 'onnx-model' ? 'an existing ONNX model is never replaced' : `refusing to replace it with ${KIND_NAMES[kind]}`;
      throw new CliError(`${option} ${path}: holds ${replaces}; ${what} without --force (or choose another path)`);
    }
  }
  await requireWritableFolder(dirname(absolute), option, path);
  return { path: absolute, option, kind, ...(replaces !== undefined ? { replaces } : {}) };
}

/** "written" or "replaced", for the summary line. */
export function writtenWord(file: OutputFile): string {
  return file.replaces !== undefined ? 'replaced' : 'written';
}

/**
 * Writes through a temporary file and a rename, so a crash never leaves half a file; on any
 * failure the temporary file is removed and the error names the real path and the flag.
 */
export async function writeOutputFile(file: Pick<OutputFile, 'path' | 'option'>, content: string | Uint8Array): Promise<void> {
  const temporary = `${file.path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, content);
    await rename(temporary, file.path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new CliError(`${file.option} ${file.path}: cannot write: ${systemReason(error)}`, undefined, { cause: error });
  }
}

/** Same as writeOutputFile, for files inside an output folder (heatmaps). */
export async function writeFileAtomic(path: string, content: string | Uint8Array, option = 'output'): Promise<void> {
  await writeOutputFile({ path, option }, content);
}
