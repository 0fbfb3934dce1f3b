/**
 * MC-Dropout masks fed to the graph's `mc_mask_<k>` inputs: 0 with probability `rate`, else
 * 1/(1-rate) (inverted dropout, as TF.js scales at training time). A deterministic pass
 * feeds exactly 1.0 everywhere. The trainer's calibration multiplies its McDropout layers by
 * the very same masks, so one image gets one score in calibration and in every runtime.
 */
import type { ModelCard } from '../card/model-card.js';

/** Values and dims of one tensor (a model input, or one output of one image). */
export interface TensorData {
  data: Float32Array;
  dims: readonly number[];
}

/** A uniform [0, 1) generator. */
export type RandomSource = () => number;

/**
 * The mask seed of cards that carry none (written before card.mcDropout.seed existed): they
 * keep scoring exactly as they did.
 */
export const DEFAULT_MC_DROPOUT_SEED = 20261123;

/** The mask seed a card's MC-Dropout passes use. */
export function mcDropoutSeed(card: Pick<ModelCard, 'mcDropout'>): number {
  return card.mcDropout?.seed ?? DEFAULT_MC_DROPOUT_SEED;
}

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
export function makeDropoutMasks(card: Pick<ModelCard, 'mcDropout'>, batch: number, rng: RandomSource | null): Record<string, TensorData> {
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

/** How many passes one image gets: 1 without mask inputs, else `requested` or card.mcDropout.samples. */
export function mcPassCount(card: Pick<ModelCard, 'mcDropout'>, requested?: number): number {
  if (!card.mcDropout || card.mcDropout.maskInputs.length === 0) return 1;
  const passes = requested ?? card.mcDropout.samples;
  if (!Number.isInteger(passes) || passes <= 0) throw new RangeError(`mcSamples must be a positive integer, got ${String(passes)}`);
  return passes;
}

/** The masks of one pass of one image (one row each, dims [1, ...]) by mask input name. */
export type PassMasks = (pass: number) => Record<string, TensorData>;

/**
 * Pass p's masks for a run of `passes` passes. A single pass is the deterministic one (all 1.0);
 * with several, pass p takes the p-th draw of one stream seeded with the card's seed (see
 * mcDropoutSeed), so every image gets the same mask sequence and a score depends neither on
 * its batch neighbours nor on the runtime. `seed` overrides the card's (tests).
 */
export function createPassMasks(card: Pick<ModelCard, 'mcDropout'>, passes: number, seed = mcDropoutSeed(card)): PassMasks {
  if (passes <= 1) {
    const deterministic = makeDropoutMasks(card, 1, null);
    return () => deterministic;
  }
  const rng = createSeededRandom(seed);
  const cache: Array<Record<string, TensorData>> = [];
  return (pass) => {
    if (!Number.isInteger(pass) || pass < 0 || pass >= passes) throw new RangeError(`pass must be an integer in [0, ${passes}), got ${String(pass)}`);
    while (cache.length <= pass) cache.push(makeDropoutMasks(card, 1, rng));
    return cache[pass];
  };
}
