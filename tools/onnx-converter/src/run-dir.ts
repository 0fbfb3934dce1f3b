/** Converts a trainer run folder (model.json, weights.bin, model-card.json) into one .onnx file. */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { type ModelCard, RUN_BACKBONE_FILE, type RunBackboneFile, validateModelCard } from '@residuum/scoring';
import { type ConversionResult, convertLayersModel } from './convert.js';
import { ConversionError } from './errors.js';
import { spliceOnnxModels } from './splice.js';
import { CONVERTER_NAME, CONVERTER_VERSION } from './version.js';

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
    const backbone = await readBackboneFile(dir);
    result = backbone
      ? await convertWithBackbone(backbone, { modelJson: modelJson as object, weights, card, fp16: options.fp16 })
      : convertLayersModel({ modelJson: modelJson as object, weights, card, fp16: options.fp16, scoringHead: options.scoringHead });
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
    throw new ConversionError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (file.kind !== 'onnx' || typeof file.onnxPath !== 'string' || typeof file.sha256 !== 'string' || !Array.isArray(file.taps)) {
    throw new ConversionError(`${path}: expected {kind: 'onnx', name, onnxPath, sha256, taps}`);
  }
  return file as RunBackboneFile;
}

async function convertWithBackbone(backbone: RunBackboneFile, head: { modelJson: object; weights: Uint8Array; card: ModelCard; fp16?: boolean }): Promise<ConversionResult> {
  if (head.fp16) throw new ConversionError('fp16 export of a model spliced behind an ONNX backbone is not supported yet');
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(backbone.onnxPath));
  } catch (error) {
    throw new ConversionError(
      `the backbone ${backbone.name} this run was trained on, ${backbone.onnxPath}, cannot be read (${(error as Error).message}); get it again with \`residuum backbone get ${backbone.name}\``,
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== backbone.sha256) {
    throw new ConversionError(`${backbone.onnxPath} (sha256 ${sha256}) is not the backbone this run was trained on (sha256 ${backbone.sha256})`);
  }
  const card = validateModelCard(head.card);
  const converted = convertLayersModel({ modelJson: head.modelJson, weights: head.weights, outputNames: card.outputs.map((o) => o.name), scoringHead: false });
  if (JSON.stringify(converted.report.inputNames) !== JSON.stringify(backbone.taps)) {
    throw new ConversionError(`the head's inputs ${converted.report.inputNames.join(', ')} are not the backbone taps ${backbone.taps.join(', ')} named in ${RUN_BACKBONE_FILE}`);
  }
  const { onnx, nodes, initializers } = spliceOnnxModels({ backbone: bytes, head: converted.onnx, card });
  const embedded = structuredClone(card);
  embedded.producer = { ...embedded.producer, converter: `${CONVERTER_NAME}@${CONVERTER_VERSION}` };
  return {
    onnx,
    card: embedded,
    report: {
      ...converted.report,
      nodes,
      initializers,
      inputName: 'input',
      inputNames: ['input'],
      warnings: [...converted.report.warnings, `head spliced behind the ONNX backbone ${backbone.name} (${backbone.onnxPath})`],
      scoringHead: { skipped: 'the map is a model output (feature error); the head is spliced behind an ONNX backbone' },
    },
  };
}
