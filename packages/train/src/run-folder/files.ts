/**
 * The run folder's file names, its format version and atomic writes. No TensorFlow.js here: the
 * CLI reads run folders (export, model-info) without loading it.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_BACKBONE_FILE } from '@residuum/scoring';

/**
 * The run folder format this code writes and the newest it reads. Stored in history.json as
 * `runFolderVersion`; folders written before the field existed (no field) are version 1.
 * 2: one history.json shape for every family (`epochs`, each with its `stage`); an interrupted
 *    training keeps a best-so-far model whose card has `training.interrupted`.
 */
export const RUN_FOLDER_VERSION = 2;

/** Every file and folder of a run folder, by role. */
export const RUN_FILES = {
  /** tf.io model.json: topology + weights manifest. */
  model: 'model.json',
  /** The weights model.json's manifest names (all weights concatenated). */
  weights: 'weights.bin',
  /** The ModelCard (@residuum/scoring), validated on write and read. */
  card: 'model-card.json',
  /** Status, format version and per-epoch records (see RunHistory). */
  history: 'history.json',
  /** The last completed epoch's state for `--resume` (see training/checkpoint.ts). */
  checkpoint: 'checkpoint',
  /** DFR on an ONNX backbone: which backbone export splices in front of the head. */
  backbone: RUN_BACKBONE_FILE,
} as const;

export type RunFileRole = keyof typeof RUN_FILES;

/** DIR/<the file of that role>. */
export function runPath(dir: string, role: RunFileRole): string {
  return join(dir, RUN_FILES[role]);
}

/** A run folder that cannot be read or is not what it claims to be; the message names the file. */
export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

/** Writes to a temporary file renamed into place: a crash never leaves a half-written file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}
