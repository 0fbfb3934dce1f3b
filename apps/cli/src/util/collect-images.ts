import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';

/** The extensions the imaging package decodes (case-insensitive). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp']);

export function isImagePath(path: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(path).toLowerCase());
}

export interface CollectedImages {
  /** Absolute paths, in the order given; folders expanded recursively and sorted. */
  images: string[];
  /** Files in the given folders that are not images (not inspected). */
  skipped: Array<{ path: string; reason: string }>;
  /** Paths given on the command line that do not exist or cannot be read. */
  missing: Array<{ path: string; reason: string }>;
}

async function walk(dir: string, into: CollectedImages): Promise<void> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = join(dir, entry.name);
    let isDirectory = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      try {
        const target = await stat(full);
        isDirectory = target.isDirectory();
        isFile = target.isFile();
      } catch {
        into.skipped.push({ path: full, reason: 'broken symbolic link' });
        continue;
      }
    }
    if (isDirectory) await walk(full, into);
    else if (isFile && isImagePath(full)) into.images.push(full);
    else into.skipped.push({ path: full, reason: isFile ? 'not an image extension' : 'not a regular file' });
  }
}

/** Expands files and folders (recursively) into image files; an explicitly named file is always kept. */
export async function collectImages(paths: readonly string[], cwd: string): Promise<CollectedImages> {
  const result: CollectedImages = { images: [], skipped: [], missing: [] };
  const seen = new Set<string>();
  for (const given of paths) {
    const absolute = resolve(cwd, given);
    let info;
    try {
      info = await stat(absolute);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      result.missing.push({ path: absolute, reason: code === 'ENOENT' ? 'no such file or directory' : `cannot read (${code ?? String(error)})` });
      continue;
    }
    if (info.isDirectory()) {
      const before = result.images.length;
      await walk(absolute, result);
      // The same image named twice (e.g. a file and its folder) is inspected once.
      const added = result.images.splice(before).filter((path) => !seen.has(path));
      for (const path of added) seen.add(path);
      result.images.push(...added);
    } else if (!seen.has(absolute)) {
      // A file named explicitly is inspected whatever its extension: the decoder says if it is no image.
      seen.add(absolute);
      result.images.push(absolute);
    }
  }
  return result;
}
