/** Converts a trainer run folder (model.json, weights.bin, model-card.json) into one .onnx file. */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ModelCard } from '@residuum/scoring';
import { type ConversionResult, convertLayersModel } from './convert.js';
import { ConversionError } from './errors.js';

export interface ConvertRunDirOptions {
  outFile: string;
  fp16?: boolean;
  /** See ConvertOptions.scoringHead (default true). */
  scoringHead?: boolean;
  /** How the bytes are written (default: mkdir + writeFile); the CLI writes atomically and names its flag on failure. */
  write?: (outFile: string, bytes: Uint8Array) => Promise<void>;
}

export interface ConvertRunDirResult extends ConversionResult {
  outFile: string;
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

export async function convertRunDir(runDir: string, options: ConvertRunDirOptions): Promise<ConvertRunDirResult> {
  if (typeof runDir !== 'string' || runDir === '') throw new ConversionError('convertRunDir: runDir must be a folder path');
  if (!options || typeof options.outFile !== 'string' || options.outFile === '') throw new ConversionError('convertRunDir: options.outFile is required');
  const dir = resolve(runDir);
  const modelJson = await readJson(join(dir, 'model.json'));
  const card = (await readJson(join(dir, 'model-card.json'))) as ModelCard;
  const weights = await readWeightFiles(dir, modelJson);
  let result: ConversionResult;
  try {
    result = convertLayersModel({ modelJson: modelJson as object, weights, card, fp16: options.fp16, scoringHead: options.scoringHead });
  } catch (error) {
    if (error instanceof ConversionError) throw new ConversionError(`${dir}: ${error.message}`);
    throw error;
  }
  const outFile = resolve(options.outFile);
  if (options.write) {
    await options.write(outFile, result.onnx);
  } else {
    await mkdir(dirname(outFile), { recursive: true });
    await writeFile(outFile, result.onnx);
  }
  return { ...result, outFile };
}
