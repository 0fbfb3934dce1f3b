import { readFile } from 'node:fs/promises';
import type { DatasetLayout, TrainingDataSource } from './data.js';
import { fileURLToPath } from 'node:url';

/** Option checks shared by the trainers; `owner` prefixes the message (e.g. 'trainDfr: '). */
export function positiveInteger(value: number | undefined, name: string, fallback: number, owner = ''): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${owner}${name} must be a positive integer, got ${String(value)}`);
  return v;
}

export function positiveNumber(value: number | undefined, name: string, fallback: number, owner = '', allowZero = false): number {
  const v = value ?? fallback;
  if (!(Number.isFinite(v) && (allowZero ? v >= 0 : v > 0))) {
    throw new Error(`${owner}${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}`);
  }
  return v;
}

/** A value in the open interval (low, high). */
export function fractionIn(value: number | undefined, name: string, fallback: number, low: number, high: number, owner = ''): number {
  const v = value ?? fallback;
  if (!(v > low && v < high)) throw new Error(`${owner}${name} must be in (${low}, ${high}), got ${String(value)}`);
  return v;
}

/** "@residuum/train 0.1.0", for the model card's producer field. */
export async function trainerVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { name: string; version: string };
    return `${pkg.name} ${pkg.version}`;
  } catch {
    return '@residuum/train';
  }
}

/** Where a family trainer reads its good images and writes its run folder. */
export interface RunDataOptions {
  /** The run folder (model.json, weights.bin, model-card.json, history.json, plus family extras). */
  out: string;
  /** Dataset root (or give `dataSource`, built with the family's preprocessing). */
  data?: string;
  layout?: DatasetLayout;
  /** Folder layout: the normal training folders, relative to `data`. */
  normalDir?: string[];
  dataSource?: TrainingDataSource;
}
