import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CliError } from '../util/errors.js';
import { requireWritableFolder, statOrNull } from './files.js';

/** Marks a folder of heatmaps as residuum's and lists the maps its last run wrote. */
export const MAPS_FOLDER_MARKER = '.residuum-maps';
export const MAPS_FOLDER_LOCK = '.residuum-maps.lock';

interface MapsManifest {
  generator: string;
  interrupted?: boolean;
  maps: string[];
}

async function readManifest(folder: string, entries: readonly string[]): Promise<string[]> {
  const text = await readFile(join(folder, MAPS_FOLDER_MARKER), 'utf8').catch(() => '');
  try {
    const manifest = JSON.parse(text) as Partial<MapsManifest>;
    if (Array.isArray(manifest.maps)) return manifest.maps.filter((name): name is string => typeof name === 'string' && !name.includes('/'));
  } catch {
    // Marker of an earlier version (one line of text): its maps are the PNGs at the top level.
  }
  return entries.filter((name) => name.toLowerCase().endsWith('.png'));
}

/** A heatmap folder checked before the work; the maps of the previous run are removed by `startRun`. */
export interface MapsFolder {
  readonly path: string;
  /** Maps the previous run into this folder wrote (still present). */
  readonly previousMaps: readonly string[];
  /** Files here that no residuum run listed (left alone, reported). */
  readonly otherFiles: readonly string[];
}

/**
 * A folder for heatmap images: created if missing; an existing non-empty folder is used only
 * if residuum made it (marker file) or with --force.
 */
export async function prepareMapsFolder(path: string, option: string, { cwd, force }: { cwd: string; force: boolean }): Promise<MapsFolder> {
  const absolute = resolve(cwd, path);
  const existing = await statOrNull(absolute);
  if (existing && !existing.isDirectory()) throw new CliError(`${option} ${path}: exists and is not a folder`);
  const entries = existing ? await readdir(absolute) : [];
  const ours = entries.includes(MAPS_FOLDER_MARKER);
  if (entries.length > 0 && !ours && !force) {
    throw new CliError(`${option} ${path}: folder holds ${entries.length} file(s) and was not made by residuum (use --force to write into it, or an empty folder)`);
  }
  await requireWritableFolder(absolute, option, path);
  const listed = ours ? new Set(await readManifest(absolute, entries)) : new Set<string>();
  const previousMaps = entries.filter((name) => listed.has(name));
  const otherFiles = entries.filter((name) => !listed.has(name) && name !== MAPS_FOLDER_MARKER && name !== MAPS_FOLDER_LOCK);
  return { path: absolute, previousMaps, otherFiles };
}

/** Removes the previous run's maps (same kind of output: allowed) and marks the folder. */
export async function clearPreviousMaps(folder: MapsFolder, generator: string): Promise<void> {
  for (const name of folder.previousMaps) await rm(join(folder.path, name), { force: true });
  await writeMapsManifest(folder, generator, [], false);
}

export async function writeMapsManifest(folder: MapsFolder, generator: string, maps: readonly string[], interrupted: boolean): Promise<void> {
  const manifest: MapsManifest = { generator, ...(interrupted ? { interrupted } : {}), maps: [...maps] };
  await writeFile(join(folder.path, MAPS_FOLDER_MARKER), JSON.stringify(manifest, null, 1) + '\n');
}
