/** Reading the backbone file a run was trained behind: the one file read the export needs besides the run folder. */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { RunBackboneFile } from '@residuum/scoring';
import { backboneCacheDir } from './backbones/get-backbone.js';
import { ConversionError } from './errors.js';

/** `residuum backbone get NAME [--size N]` for a cached file named NAME-SIZE.onnx. */
function getCommand(file: RunBackboneFile): string {
  const size = new RegExp(`^${file.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)\\.onnx$`).exec(basename(file.onnxPath))?.[1];
  return `residuum backbone get ${file.name}${size ? ` --size ${size}` : ''}`;
}

/**
 * The backbone file a run names (outside the run folder: the backbone cache). When the recorded path
 * is gone (a run folder copied from another machine, a moved cache), the same file name in this
 * machine's backbone cache is taken instead; the caller checks its sha256 against the run's. Errors
 * say which paths were tried and how to get the file again.
 */
export async function readBackboneOnnx(file: RunBackboneFile, options: { cacheDir?: string } = {}): Promise<Uint8Array> {
  let firstError: Error;
  try {
    return new Uint8Array(await readFile(file.onnxPath));
  } catch (error) {
    firstError = error as Error;
  }
  const cached = join(options.cacheDir ?? backboneCacheDir(), basename(file.onnxPath));
  if (cached !== file.onnxPath) {
    try {
      return new Uint8Array(await readFile(cached));
    } catch {
      // Reported below with the recorded path's reason.
    }
  }
  throw new ConversionError(
    `the backbone ${file.name} this run was trained on cannot be read: ${file.onnxPath} (${firstError.message})` +
      (cached !== file.onnxPath ? `, nor ${cached} in this machine's backbone cache` : '') +
      `; get it with \`${getCommand(file)}\` (its sha256 must be ${file.sha256}, the file the run was trained on)`,
  );
}
