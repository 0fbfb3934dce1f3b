import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConversionError, convertTrainedModel, readBackboneOnnx } from '@residuum/onnx-converter';
import { readRunFolder, RunFolderError, type RunFolder } from '@residuum/train/run-folder';
import type { ExportCliOptions } from '../cli.js';
import type { CommandContext } from './context.js';
import { CliError } from '../util/errors.js';
import { ExitCode, type ExitCodeValue } from '../util/exit-codes.js';
import { displayPath, formatNumber } from '../util/format.js';
import { acquireOutputLock, prepareOutputFile, writeOutputFile, writtenWord } from '../output/index.js';

export async function runExport(runDir: string, options: ExportCliOptions, context: CommandContext): Promise<ExitCodeValue> {
  const { io } = context;
  const dir = resolve(io.cwd, runDir);
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new CliError(`run folder not found: ${runDir} (a folder written by \`residuum train\`)`);
  // Any existing .onnx (it may be the model a line runs) and any other kind of file needs --force.
  const out = await prepareOutputFile(options.out, '--out', { cwd: io.cwd, force: Boolean(options.force), kind: 'onnx-model' });
  // After --out is checked: an existing model there is named first, whatever the run folder holds.
  // The run folder is read once, through its owner (@residuum/train/run-folder); the conversion
  // itself reads no file.
  let run: RunFolder;
  try {
    run = await readRunFolder(dir);
  } catch (error) {
    if (error instanceof RunFolderError) throw new CliError(error.message.split(dir).join(runDir));
    throw error;
  }
  const lock = await acquireOutputLock(`${out.path}.lock`, `--out ${options.out}`, 'residuum export');
  let result;
  try {
    // The one file outside the run folder: the backbone a DFR head was trained behind (the backbone cache).
    const backboneOnnx = run.backbone ? await readBackboneOnnx(run.backbone) : undefined;
    try {
      result = convertTrainedModel(run, { fp16: Boolean(options.fp16), scoringHead: options.scoringHead !== false, backboneOnnx });
    } catch (error) {
      if (error instanceof ConversionError) throw new ConversionError(`${dir}: ${error.message}`);
      throw error;
    }
    await writeOutputFile(out, result.onnx);
  } finally {
    await lock.release();
  }
  const size = result.onnx.byteLength;
  const r = result.report;
  io.stdout(
    `${writtenWord(out) === 'replaced' ? `replaced ${out.replaces} at` : 'wrote'} ${displayPath(out.path, io.cwd)} (${formatNumber(size / 1024)} KiB, ${r.fp16Storage ? `float16 storage of ${r.fp16Storage.converted} weight tensors, float32 compute` : r.fp16 ? 'float16' : 'float32'})\n` +
      `ONNX IR version ${r.irVersion}, opset ${r.opsetVersion}: ${r.nodes} nodes, ${r.initializers} initializers, ${r.foldedBatchNorms} batch norms folded\n` +
      `input ${r.inputName}; outputs ${r.outputs.map((o) => `${o.name} [${o.shape.join(', ')}]`).join(', ')}\n` +
      ('output' in r.scoringHead ? `scoring head: output ${r.scoringHead.output} is the anomaly map, computed in the graph\n` : `no scoring head: ${r.scoringHead.skipped}\n`) +
      (r.mcMaskInputs.length ? `MC-Dropout mask inputs: ${r.mcMaskInputs.map((m) => m.name).join(', ')}\n` : '') +
      (result.card ? `model card embedded: ${result.card.name} (${result.card.family}), threshold ${formatNumber(result.card.threshold.value)}\n` : ''),
  );
  for (const warning of r.warnings) io.stderr(`warning: ${warning}\n`);
  if (run.interrupted) io.stderr(`warning: interrupted training: ${run.interrupted} (the ONNX card says so in training.interrupted)\n`);
  return ExitCode.ok;
}
