import { createHash } from 'node:crypto';
import { compareRelPath } from './types.js';

export interface TrainValidationSplit<Item> {
  train: Item[];
  validation: Item[];
}

/**
 * Seeded, deterministic split of normal training items. Each item is ranked by
 * sha256(seed + relPath) and the first round(n * fraction) go to validation, so the result does not
 * depend on the input order, and adding files moves few existing ones across the split.
 */
export function splitTrainValidation<Item extends { relPath: string; label: 0 | 1 }>(
  items: readonly Item[],
  fraction: number,
  seed: number,
): TrainValidationSplit<Item> {
  if (!Array.isArray(items)) throw new TypeError('splitTrainValidation: items must be an array');
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`splitTrainValidation: fraction must be in (0, 1), got ${fraction}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`splitTrainValidation: seed must be an integer, got ${seed}`);
  const anomalous = items.find((item) => item.label !== 0);
  if (anomalous !== undefined) {
    throw new RangeError(`splitTrainValidation: validation is for normal images only, but ${anomalous.relPath} is anomalous`);
  }
  const validationCount = Math.round(items.length * fraction);
  if (validationCount < 1 || validationCount >= items.length) {
    throw new RangeError(
      `splitTrainValidation: ${items.length} item(s) with fraction ${fraction} leave${validationCount < 1 ? 's no validation' : 's no training'} item`,
    );
  }
  const ranked = items.map((item) => ({ item, key: createHash('sha256').update(`${seed}\0${item.relPath}`).digest('hex') }));
  ranked.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : compareRelPath(a.item, b.item)));
  const validation = ranked.slice(0, validationCount).map((r) => r.item).sort(compareRelPath);
  const train = ranked.slice(validationCount).map((r) => r.item).sort(compareRelPath);
  return { train, validation };
}
