/**
 * A trainer run folder -> .onnx, the way `residuum export` does it: read by the run folder's owner
 * (@residuum/train/run-folder), converted in memory, written. For tests and scripts that start from
 * a run folder (the converter itself reads no run folder).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readRunFolder } from '@residuum/train/run-folder';
import { type ConversionResult, convertTrainedModel, type ExportOptions, readBackboneOnnx } from '../../src/index.js';

export async function exportRunFolder(runDir: string, options: Omit<ExportOptions, 'backboneOnnx'> & { outFile?: string } = {}): Promise<ConversionResult> {
  const run = await readRunFolder(runDir);
  const result = convertTrainedModel(run, { ...options, backboneOnnx: run.backbone ? await readBackboneOnnx(run.backbone) : undefined });
  if (options.outFile) {
    await mkdir(dirname(options.outFile), { recursive: true });
    await writeFile(options.outFile, result.onnx);
  }
  return result;
}
