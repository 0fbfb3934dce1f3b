/**
 * history.json: one shape for every family (format 2), and the per-family shapes of format 1
 * (CAE/NCAE/VAE/AESc `epochs`, DFR `history`, f-AnoGAN `gan` + `encoder`) read into it.
 */
import { readFile } from 'node:fs/promises';
import { RUN_FOLDER_VERSION, RunFolderError, runPath, writeJsonAtomic } from './files.js';

export type RunStatus = 'training' | 'completed' | 'early-stopped' | 'interrupted';

/** One epoch of one stage (most families have one stage, 'train'; f-AnoGAN has 'gan' then 'encoder'). */
export interface HistoryEpoch {
  stage: string;
  /** 1-based within its stage. */
  epoch: number;
  /** Mean training loss of the epoch (the stage's own loss: reconstruction, critic, izi_f...). */
  loss: number;
  /** Validation loss, when the stage has one. */
  valLoss?: number;
  learningRate?: number;
  seconds: number;
  /** Training examples seen this epoch (images; feature vectors for DFR's autoencoder). */
  images?: number;
  /** Anything else the family measures per epoch (f-AnoGAN: wassersteinEstimate, diversityRatio, ...). */
  metrics?: Record<string, number | string>;
}

export interface RunHistory {
  runFolderVersion: number;
  /** Model family; 'unknown' for a format-1 CAE-style history read without its card. */
  family: string;
  status: RunStatus;
  /** Why the training stopped, when interrupted. */
  reason?: string;
  /** Epoch (of the stage that selects the model) whose weights were kept; 0 = none yet. */
  bestEpoch: number;
  /** null before the first validated epoch (JSON has no Infinity). */
  bestValLoss: number | null;
  epochs: HistoryEpoch[];
  /** Family details that are not per epoch (f-AnoGAN stability check, encoder warm start, ...). */
  details?: Record<string, unknown>;
}

const STATUSES: readonly RunStatus[] = ['training', 'completed', 'early-stopped', 'interrupted'];

export async function writeRunHistory(dir: string, history: Omit<RunHistory, 'runFolderVersion'>): Promise<void> {
  const bestValLoss = history.bestValLoss !== null && Number.isFinite(history.bestValLoss) ? history.bestValLoss : null;
  await writeJsonAtomic(runPath(dir, 'history'), { runFolderVersion: RUN_FOLDER_VERSION, ...history, bestValLoss });
}

/** DIR/history.json in format 2 (format 1 converted), or undefined when the folder has none. */
export async function readRunHistory(dir: string): Promise<RunHistory | undefined> {
  const path = runPath(dir, 'history');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RunFolderError(`cannot read ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new RunFolderError(`${path} is not valid JSON (damaged?): ${(error as Error).message}`);
  }
  return parseRunHistory(parsed, path);
}

/** Checks and converts a parsed history.json; `source` names it in errors. */
export function parseRunHistory(value: unknown, source: string): RunHistory {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new RunFolderError(`${source}: expected a JSON object`);
  const raw = value as Record<string, unknown>;
  const version = raw.runFolderVersion ?? 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new RunFolderError(`${source}: runFolderVersion must be a positive integer, got ${JSON.stringify(version)}`);
  }
  if (version > RUN_FOLDER_VERSION) {
    throw new RunFolderError(
      `${source}: run folder format ${version} was written by a newer Residuum; this one reads formats 1 to ${RUN_FOLDER_VERSION} (update Residuum, or train again with this version)`,
    );
  }
  const status = STATUSES.includes(raw.status as RunStatus) ? (raw.status as RunStatus) : undefined;
  if (status === undefined) throw new RunFolderError(`${source}: status must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(raw.status)}`);
  const common = {
    runFolderVersion: version,
    family: typeof raw.family === 'string' ? raw.family : 'unknown',
    status,
    ...(typeof raw.reason === 'string' ? { reason: raw.reason } : {}),
    bestEpoch: typeof raw.bestEpoch === 'number' && raw.bestEpoch > 0 ? raw.bestEpoch : 0,
    bestValLoss: typeof raw.bestValLoss === 'number' ? raw.bestValLoss : null,
  };
  if (version >= 2) {
    if (!Array.isArray(raw.epochs)) throw new RunFolderError(`${source}: epochs must be an array`);
    return { ...common, epochs: raw.epochs as HistoryEpoch[], ...(isObject(raw.details) ? { details: raw.details } : {}) };
  }
  return { ...common, ...formatOneEpochs(raw) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function records(value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

/** Numbers of a format-1 record that are not HistoryEpoch fields go to metrics. */
function toEpoch(stage: string, record: Record<string, unknown>, lossKey = 'loss'): HistoryEpoch {
  const known = new Set(['epoch', lossKey, 'valLoss', 'learningRate', 'seconds', 'images']);
  const metrics: Record<string, number | string> = {};
  for (const [key, v] of Object.entries(record)) if (!known.has(key) && (typeof v === 'number' || typeof v === 'string')) metrics[key] = v;
  const number = (key: string): number | undefined => (typeof record[key] === 'number' ? record[key] : undefined);
  const valLoss = number('valLoss');
  const learningRate = number('learningRate');
  const images = number('images');
  return {
    stage,
    epoch: number('epoch') ?? 0,
    loss: number(lossKey) ?? Number.NaN,
    ...(valLoss !== undefined ? { valLoss } : {}),
    ...(learningRate !== undefined ? { learningRate } : {}),
    seconds: number('seconds') ?? 0,
    ...(images !== undefined ? { images } : {}),
    ...(Object.keys(metrics).length ? { metrics } : {}),
  };
}

/** Format 1: `epochs` (CAE family), `history` (DFR), `gan` + `encoder` (f-AnoGAN), none (CLI's Ctrl-C marker). */
function formatOneEpochs(raw: Record<string, unknown>): Pick<RunHistory, 'epochs' | 'details'> {
  if (Array.isArray(raw.gan) || Array.isArray(raw.encoder)) {
    const details: Record<string, unknown> = {};
    for (const key of ['stability', 'stabilityCheck', 'encoderWarmStart', 'ganFrom']) if (raw[key] !== undefined) details[key] = raw[key];
    return {
      epochs: [...records(raw.gan).map((r) => toEpoch('gan', r, 'criticLoss')), ...records(raw.encoder).map((r) => toEpoch('encoder', r))],
      details,
    };
  }
  if (Array.isArray(raw.history)) return { epochs: records(raw.history).map((r) => toEpoch('train', r)) };
  return { epochs: records(raw.epochs).map((r) => toEpoch('train', r)) };
}
