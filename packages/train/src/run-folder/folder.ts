/** Reading and writing a run folder's model, card and backbone file; readRunFolder checks the whole. */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelCardError, validateModelCard, type ModelCard, type RunBackboneFile } from '@residuum/scoring';
import { RUN_FILES, RunFolderError, runPath, writeFileAtomic, writeJsonAtomic } from './files.js';
import { readRunHistory, type RunHistory } from './history.js';

/** tf.io's model.json: the topology and which weight files hold which weights. */
export interface RunModelJson {
  modelTopology: object;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  weightsManifest: Array<{ paths: string[]; weights: Array<{ name: string; shape: number[]; dtype: string }> }>;
}

/** A model in memory as the run folder stores it: model.json plus the weight bytes in manifest order. */
export interface RunModel {
  modelJson: RunModelJson;
  weights: Uint8Array;
}

/** Everything `residuum export` needs from a run folder, read and checked. */
export interface RunFolder {
  dir: string;
  /** The run folder format (1 = written before history.json had runFolderVersion). */
  version: number;
  card: ModelCard;
  model: RunModel;
  /** DFR on an ONNX backbone only. */
  backbone?: RunBackboneFile;
  /** Absent in hand-assembled folders (model.json + model-card.json only). */
  history?: RunHistory;
  /** card.training.interrupted: the training was stopped early and this is its best-so-far model. */
  interrupted?: string;
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new RunFolderError(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new RunFolderError(`${path} is not valid JSON (truncated or damaged?): ${(error as Error).message}`);
  }
}

/** Writes DIR/weights.bin then DIR/model.json (whose manifest must name weights.bin), each atomically. */
export async function writeRunModel(dir: string, model: RunModel): Promise<void> {
  const paths = model.modelJson.weightsManifest.flatMap((group) => group.paths.map((p) => p.replace(/^\.\//, '')));
  if (paths.length !== 1 || paths[0] !== RUN_FILES.weights) {
    throw new RunFolderError(`writeRunModel: the weights manifest must name ${RUN_FILES.weights} once, names ${JSON.stringify(paths)}`);
  }
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(runPath(dir, 'weights'), model.weights);
  await writeFileAtomic(runPath(dir, 'model'), JSON.stringify(model.modelJson));
}

/** Reads DIR/model.json and every weight file its manifest names, checking the byte count. */
export async function readRunModel(dir: string): Promise<RunModel> {
  const path = runPath(dir, 'model');
  const modelJson = (await readJsonFile(path, 'model')) as Partial<RunModelJson>;
  if (modelJson === null || typeof modelJson !== 'object' || modelJson.modelTopology == null || !Array.isArray(modelJson.weightsManifest)) {
    throw new RunFolderError(`${path} is not a tf.io model.json (no modelTopology or weightsManifest)`);
  }
  const chunks: Uint8Array[] = [];
  let expected = 0;
  for (const group of modelJson.weightsManifest) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group.weights)) throw new RunFolderError(`${path}: weightsManifest entry without paths or weights`);
    for (const weight of group.weights) expected += 4 * (weight.shape ?? []).reduce((a, b) => a * b, 1);
    for (const file of group.paths) {
      const weightsPath = join(dir, String(file));
      try {
        chunks.push(new Uint8Array(await readFile(weightsPath)));
      } catch (error) {
        throw new RunFolderError(`cannot read weights ${weightsPath} listed in ${path}: ${(error as Error).message}`);
      }
    }
  }
  const weights = concatenate(chunks);
  if (weights.byteLength !== expected) {
    throw new RunFolderError(`${dir}: the weight files hold ${weights.byteLength} bytes, ${RUN_FILES.model} needs ${expected} (truncated or from another model?)`);
  }
  return { modelJson: modelJson as RunModelJson, weights };
}

function concatenate(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Validates the card and writes DIR/model-card.json atomically; returns the validated card. */
export async function writeRunCard(dir: string, card: ModelCard): Promise<ModelCard> {
  const valid = validateModelCard(card);
  await writeJsonAtomic(runPath(dir, 'card'), valid);
  return valid;
}

/** DIR/model-card.json, validated; undefined when the folder has none. */
export async function readRunCard(dir: string): Promise<ModelCard | undefined> {
  const path = runPath(dir, 'card');
  if (!(await isFile(path))) return undefined;
  const value = await readJsonFile(path, 'model card');
  try {
    return validateModelCard(value);
  } catch (error) {
    if (error instanceof ModelCardError) throw new RunFolderError(`${path}: ${error.message}`);
    throw error;
  }
}

export async function writeRunBackbone(dir: string, file: RunBackboneFile): Promise<void> {
  await writeJsonAtomic(runPath(dir, 'backbone'), file);
}

/** DIR/backbone.json, checked; undefined when the run has no ONNX backbone. */
export async function readRunBackbone(dir: string): Promise<RunBackboneFile | undefined> {
  const path = runPath(dir, 'backbone');
  if (!(await isFile(path))) return undefined;
  const file = (await readJsonFile(path, 'backbone file')) as Partial<RunBackboneFile>;
  if (file?.kind !== 'onnx' || typeof file.name !== 'string' || typeof file.onnxPath !== 'string' || typeof file.sha256 !== 'string' || !Array.isArray(file.taps)) {
    throw new RunFolderError(`${path}: expected {kind: 'onnx', name, onnxPath, sha256, taps}`);
  }
  return file as RunBackboneFile;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
}

/**
 * Reads a finished (or interrupted, best-so-far) run folder for export: format version, card, model
 * (weights checked against the manifest), backbone file. Errors say what is missing and what to do.
 */
export async function readRunFolder(dir: string): Promise<RunFolder> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new RunFolderError(`run folder not found: ${dir} (a folder written by \`residuum train\`)`);
  // First: a folder from a newer Residuum is refused before anything else is interpreted.
  const history = await readRunHistory(dir);
  if (!(await isFile(runPath(dir, 'model')))) {
    const why =
      history?.status === 'interrupted'
        ? ` (the training was interrupted before its first epoch ended${history.reason ? `: ${history.reason}` : ''}; train again)`
        : history?.status === 'training'
          ? ' (the training has not finished its first epoch, or was killed; continue it with --resume)'
          : ': is it a finished training run folder?';
      throw new RunFolderError(`${dir} has no ${RUN_FILES.model}${why}`);
  }
  const card = await readRunCard(dir);
  if (card === undefined) {
    const why =
      history?.status === 'training' || history?.status === 'interrupted'
        ? ` (the training was stopped before a model card was written; continue it with \`residuum train ... --resume\`)`
        : ': is it a finished training run folder?';
    throw new RunFolderError(`${dir} has no ${RUN_FILES.card}${why}`);
  }
  const model = await readRunModel(dir);
  const backbone = await readRunBackbone(dir);
  return {
    dir,
    version: history?.runFolderVersion ?? 1,
    card,
    model,
    ...(backbone ? { backbone } : {}),
    ...(history ? { history } : {}),
    ...(card.training.interrupted ? { interrupted: card.training.interrupted } : {}),
  };
}
