import { mkdir, open, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CliError } from './errors.js';

/** Marks the files and folders the CLI writes, so a re-run may replace them but nothing else. */
export const GENERATOR_MARK = 'residuum';
const MAPS_DIR_MARKER = '.residuum-maps';

async function statOrNull(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') throw new CliError(`${path}: part of the path is a file, not a directory`);
    throw error;
  }
}

async function readHead(path: string, bytes: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** JSON reports carry "generator": "residuum ..." and HTML reports <meta name="generator" content="residuum ...">. */
function looksWrittenByUs(head: string): boolean {
  return (
    /"generator"\s*:\s*"residuum/.test(head) || /<meta name="generator" content="residuum/.test(head)
  );
}

/**
 * Checks an output file path before any work starts: it must not be a directory, and an
 * existing file is replaced only when residuum wrote it (or with --force). Creates the
 * parent folders. Returns the absolute path.
 */
export async function prepareOutputFile(
  path: string,
  option: string,
  { cwd, force }: { cwd: string; force: boolean },
): Promise<string> {
  const absolute = resolve(cwd, path);
  const existing = await statOrNull(absolute);
  if (existing?.isDirectory()) {
    throw new CliError(`${option} ${path}: is a directory; give a file path such as ${join(path, 'result' + (option === '--report' ? '.html' : '.json'))}`);
  }
  if (existing && !existing.isFile()) throw new CliError(`${option} ${path}: exists and is not a regular file`);
  if (existing && !force && !looksWrittenByUs(await readHead(absolute, 4096))) {
    throw new CliError(`${option} ${path}: refusing to overwrite a file that residuum did not write (use --force to replace it)`);
  }
  const parent = dirname(absolute);
  const parentStat = await statOrNull(parent);
  if (parentStat && !parentStat.isDirectory()) throw new CliError(`${option} ${path}: ${parent} is not a directory`);
  await mkdir(parent, { recursive: true });
  return absolute;
}

/** Writes via a temporary file and a rename, so a crash never leaves half a report. */
export async function writeFileAtomic(absolutePath: string, content: string | Uint8Array): Promise<void> {
  const temporary = `${absolutePath}.${process.pid}.tmp`;
  await writeFile(temporary, content);
  await rename(temporary, absolutePath);
}

/**
 * A folder for heatmap images: created if missing; an existing non-empty folder is used
 * only if residuum made it (marker file) or with --force.
 */
export async function prepareOutputDir(
  path: string,
  option: string,
  { cwd, force }: { cwd: string; force: boolean },
): Promise<string> {
  const absolute = resolve(cwd, path);
  const existing = await statOrNull(absolute);
  if (existing && !existing.isDirectory()) throw new CliError(`${option} ${path}: exists and is not a directory`);
  if (existing && !force) {
    const entries = await readdir(absolute);
    if (entries.length > 0 && !entries.includes(MAPS_DIR_MARKER)) {
      throw new CliError(`${option} ${path}: folder is not empty and was not made by residuum (use --force to write into it)`);
    }
  }
  await mkdir(absolute, { recursive: true });
  await writeFile(join(absolute, MAPS_DIR_MARKER), 'Heatmaps written by `residuum`; files here may be replaced by the next run.\n');
  return absolute;
}
