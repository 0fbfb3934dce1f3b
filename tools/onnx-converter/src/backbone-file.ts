/** Reading the backbone file a run was trained behind: the one file read the export needs besides the run folder. */
import { readFile } from 'node:fs/promises';
import type { RunBackboneFile } from '@residuum/scoring';
import { ConversionError } from './errors.js';

/** The backbone file a run names (outside the run folder: the backbone cache); errors say how to get it again. */
export async function readBackboneOnnx(file: RunBackboneFile): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file.onnxPath));
  } catch (error) {
    throw new ConversionError(
      `the backbone ${file.name} this run was trained on, ${file.onnxPath}, cannot be read (${(error as Error).message}); get it again with \`residuum backbone get ${file.name}\``,
    );
  }
}
