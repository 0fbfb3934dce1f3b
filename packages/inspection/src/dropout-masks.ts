/**
 * MC-Dropout masks fed to the graph's `mc_mask_<k>` inputs: 0 with probability `rate`, else
 * 1/(1-rate) (inverted dropout, as TF.js scales at training time). A deterministic pass
 * feeds exactly 1.0 everywhere.
 */
import type { ModelCard } from '@residuum/scoring';

export interface TensorData {
  data: Float32Array;
  dims: readonly number[];
}

/** A uniform [0, 1) generator. */
export type RandomSource = () => number;

/** mulberry32: small, fast, seeded; the same seed gives the same masks in Node and browsers. */
export function createSeededRandom(seed: number): RandomSource {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${String(seed)}`);
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One mask tensor per card.mcDropout.maskInputs entry, for `batch` rows. `rng` null gives
 * the deterministic masks (all 1.0). A card without MC-Dropout gives {}.
 */
export function makeDropoutMasks(card: ModelCard, batch: number, rng: RandomSource | null): Record<string, TensorData> {
  if (!Number.isInteger(batch) || batch <= 0) throw new RangeError(`batch must be a positive integer, got ${String(batch)}`);
  const masks: Record<string, TensorData> = {};
  for (const mask of card.mcDropout?.maskInputs ?? []) {
    if (!(mask.rate >= 0 && mask.rate < 1)) {
      throw new RangeError(`MC-Dropout mask '${mask.name}': rate must be in [0, 1), got ${String(mask.rate)}`);
    }
    const dims = mask.shape.map((dim, axis) => {
      if (dim === 'N') return batch;
      if (!Number.isInteger(dim) || dim <= 0) {
        throw new RangeError(`MC-Dropout mask '${mask.name}': dim ${axis} must be 'N' or a positive integer, got ${String(dim)}`);
      }
      return dim;
    });
    const size = dims.reduce((product, dim) => product * dim, 1);
    const data = new Float32Array(size);
    if (rng === null) data.fill(1);
    else {
      const keep = 1 / (1 - mask.rate);
      for (let i = 0; i < size; i++) data[i] = rng() < mask.rate ? 0 : keep;
    }
    masks[mask.name] = { data, dims };
  }
  return masks;
}
