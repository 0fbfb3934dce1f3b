import { RUN_FILES, runPath } from '@residuum/train/run-folder';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describeOnnxModel, type OnnxModelInfo } from '@residuum/inspection';
import { validateModelCard, type ModelCard } from '@residuum/scoring';
import { CliError, isLibraryError, oneLine } from '../util/errors.js';
import { ExitCode } from '../util/exit-codes.js';

export interface LoadedCard {
  card: ModelCard;
  /** Absolute path of the file the card came from. */
  source: string;
  kind: 'onnx' | 'run-folder' | 'card-json';
  onnx?: OnnxModelInfo;
}

/** Checks that a model path names an existing file, with a message naming the argument. */
export async function requireModelFile(path: string, cwd: string): Promise<string> {
  const absolute = resolve(cwd, path);
  let info;
  try {
    info = await stat(absolute);
  } catch {
    throw new CliError(`model file not found: ${path}`);
  }
  if (info.isDirectory()) {
    throw new CliError(`model ${path} is a folder; give the .onnx file (export a run folder with \`residuum export ${path} --out model.onnx\`)`);
  }
  if (!info.isFile()) throw new CliError(`model ${path} is not a regular file`);
  return absolute;
}

async function readCardJson(path: string, display: string): Promise<ModelCard> {
  const text = await readFile(path, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(`${display}: not valid JSON (${(error as Error).message})`);
  }
  return withSource(display, () => validateModelCard(value));
}

/** Library errors about a file's content get the file's name in front. */
function withSource<T>(display: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (isLibraryError(error) && !error.message.includes(display)) throw new CliError(`${display}: ${oneLine(error.message)}`, ExitCode.usage, { cause: error });
    throw error;
  }
}

/** The card of an ONNX file (metadata_props), of a run folder (model-card.json) or of a card JSON file. */
export async function loadCardFrom(path: string, cwd: string): Promise<LoadedCard> {
  const absolute = resolve(cwd, path);
  let info;
  try {
    info = await stat(absolute);
  } catch {
    throw new CliError(`model not found: ${path}`);
  }
  if (info.isDirectory()) {
    const cardPath = runPath(absolute, 'card');
    try {
      await stat(cardPath);
    } catch {
      throw new CliError(`${path} is a folder without ${RUN_FILES.card}: give an .onnx file or a training run folder`);
    }
    return { card: await readCardJson(cardPath, join(path, RUN_FILES.card)), source: cardPath, kind: 'run-folder' };
  }
  if (/\.json$/i.test(absolute)) return { card: await readCardJson(absolute, path), source: absolute, kind: 'card-json' };
  const bytes = new Uint8Array(await readFile(absolute));
  const { card, onnx } = withSource(path, () => describeOnnxModel(bytes));
  return { card, onnx, source: absolute, kind: 'onnx' };
}
