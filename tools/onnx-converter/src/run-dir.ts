/**
 * The file-reading wrapper around convertTrainedModel: a trainer run folder (model.json, the
 * weight files its manifest names, model-card.json, backbone.json where the run has one) read
 * into memory, converted, written to one .onnx file.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type ModelCard, RUN_BACKBONE_FILE, type RunBackboneFile } from '@residuum/scoring';
import type { ConversionResult } from './convert.js';
import { convertTrainedModel, type ExportOptions, type TrainedModel } from './convert-trained.js';
import { ConversionError } from './errors.js';

export interface ConvertRunDirOptions extends ExportOptions {
  outFile: string;
}

export interface ConvertRunDirResult extends ConversionResult {
  outFile: string;
}

/** Reads, converts and writes (creating the output's folder); the conversion itself is convertTrainedModel. */
export async function convertRunDir(runDir: string, options: ConvertRunDirOptions): Promise<ConvertRunDirResult> {
  if (!options || typeof options.outFile !== 'string' || options.outFile === '') throw new ConversionError('convertRunDir: options.outFile is required');
  const model = await readRunDir(runDir);
  const dir = resolve(runDir);
  let result: ConversionResult;
  try {
    result = convertTrainedModel(model, { fp16: options.fp16, scoringHead: options.scoringHead });
  } catch (error) {
    if (error instanceof ConversionError) throw new ConversionError(`${dir}: ${error.message}`);
    throw error;
  }
  const outFile = resolve(options.outFile);
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, result.onnx);
  return { ...result, outFile };
}

/** A run folder's model, card and backbone, in memory. The card is checked by the conversion. */
export async function readRunDir(runDir: string): Promise<TrainedModel> {
  if (typeof runDir !== 'string' || runDir === '') throw new ConversionError('readRunDir: runDir must be a folder path');
  const dir = resolve(runDir);
  const modelJson = await readJson(join(dir, 'model.json'));
  const card = (await readJson(join(dir, 'model-card.json'))) as ModelCard;
  const weights = await readWeightFiles(dir, modelJson);
  const backboneFile = await readBackboneFile(dir);
  const backbone = backboneFile ? { file: backboneFile, onnx: await readBackboneOnnx(backboneFile) } : undefined;
  return { modelJson: modelJson as object, weights, card, ...(backbone ? { backbone } : {}) };
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConversionError(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConversionError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Reads every weights file the manifest names, in manifest order. */
async function readWeightFiles(runDir: string, modelJson: unknown): Promise<Uint8Array> {
  const manifest = (modelJson as { weightsManifest?: unknown }).weightsManifest;
  if (!Array.isArray(manifest)) throw new ConversionError(`${join(runDir, 'model.json')}: weightsManifest missing`);
  const chunks: Uint8Array[] = [];
  for (const group of manifest as Array<{ paths?: unknown }>) {
    if (!Array.isArray(group.paths)) throw new ConversionError(`${join(runDir, 'model.json')}: weightsManifest entry without paths`);
    for (const path of group.paths) {
      const file = join(runDir, String(path));
      try {
        chunks.push(new Uint8Array(await readFile(file)));
      } catch (error) {
        throw new ConversionError(`cannot read weights file ${file}: ${(error as Error).message}`);
      }
    }
  }
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const data = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return data;
}

/**
 * A run whose backbone ran in onnxruntime (DFR on ResNet-50) holds the head (inputs = the taps) and
 * backbone.json naming the backbone's ONNX file and its sha256 (written by @residuum/train's trainDfr).
 */
async function readBackboneFile(dir: string): Promise<RunBackboneFile | undefined> {
  const path = join(dir, RUN_BACKBONE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  let file: Partial<RunBackboneFile>;
  try {
    file = JSON.parse(text) as Partial<RunBackboneFile>;
  } catch (error) {
    throw new ConversionError(`${dir}: ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (file.kind !== 'onnx' || typeof file.onnxPath !== 'string' || typeof file.sha256 !== 'string' || !Array.isArray(file.taps)) {
    throw new ConversionError(`${dir}: ${path}: expected {kind: 'onnx', name, onnxPath, sha256, taps}`);
  }
  return file as RunBackboneFile;
}

/** The backbone file a run names (outside the run folder: the backbone cache). */
export async function readBackboneOnnx(file: RunBackboneFile): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file.onnxPath));
  } catch (error) {
    throw new ConversionError(
      `the backbone ${file.name} this run was trained on, ${file.onnxPath}, cannot be read (${(error as Error).message}); get it again with \`residuum backbone get ${file.name}\``,
    );
  }
}
