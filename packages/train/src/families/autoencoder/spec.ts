import type * as tf from '@tensorflow/tfjs';
import type { McDropoutSpec, OutputSpec, ScoreSpec } from '@residuum/scoring';
import { AESC_DEFAULTS, aescMcDropoutSpec, aescOutputs, aescScoreSpec, buildAesc, defaultAescDropoutRates, type AescSpec } from '../aesc/model.js';
import { buildCae, CAE_DEFAULTS, caeOutputs, caeScoreSpec, type CaeSpec } from '../cae/model.js';
import { buildNcae, NCAE_DEFAULTS, ncaeOutputs, ncaeScoreSpec, type NcaeSpec } from '../ncae/model.js';
import { buildVae, VAE_DEFAULTS, vaeOutputs, vaeScoreSpec, type VaeSpec } from '../vae/model.js';

/** A complete, JSON-serializable model description: what `createTrainable` builds from. */
export type ModelSpec = CaeSpec | NcaeSpec | AescSpec | VaeSpec;
export type TrainableFamily = ModelSpec['family'];
export const TRAINABLE_FAMILIES: readonly TrainableFamily[] = ['cae', 'ncae', 'aesc', 'vae'];

/** A family plus any subset of its fields; the rest come from the family's defaults. */
export type PartialModelSpec =
  | ({ family: 'cae' } & Partial<Omit<CaeSpec, 'family'>>)
  | ({ family: 'ncae' } & Partial<Omit<NcaeSpec, 'family'>>)
  | ({ family: 'aesc' } & Partial<Omit<AescSpec, 'family'>>)
  | ({ family: 'vae' } & Partial<Omit<VaeSpec, 'family'>>);

function defined<T extends object>(partial: T): Partial<T> {
  return Object.fromEntries(Object.entries(partial).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** Fills the family defaults in; validation happens when the model is built. */
export function resolveModelSpec(partial: PartialModelSpec): ModelSpec {
  switch (partial.family) {
    case 'cae':
      return { family: 'cae', ...CAE_DEFAULTS, ...defined(partial) } as CaeSpec;
    case 'ncae':
      return { family: 'ncae', ...NCAE_DEFAULTS, ...defined(partial) } as NcaeSpec;
    case 'aesc': {
      const merged = { family: 'aesc', ...AESC_DEFAULTS, ...defined(partial) } as AescSpec;
      if (partial.dropoutRates === undefined) merged.dropoutRates = defaultAescDropoutRates(merged.widths.length);
      return merged;
    }
    case 'vae':
      return { family: 'vae', ...VAE_DEFAULTS, ...defined(partial) } as VaeSpec;
    default:
      throw new Error(
        `unknown model family '${String((partial as { family?: unknown }).family)}' (expected one of ${TRAINABLE_FAMILIES.join(', ')})`,
      );
  }
}

export function buildModel(spec: ModelSpec): tf.LayersModel {
  switch (spec.family) {
    case 'cae':
      return buildCae(spec);
    case 'ncae':
      return buildNcae(spec);
    case 'aesc':
      return buildAesc(spec);
    case 'vae':
      return buildVae(spec);
    default:
      throw new Error(`unknown model family '${String((spec as { family?: unknown }).family)}'`);
  }
}

/** The score the runtime should use for this model (goes into the card). */
export function defaultScoreSpec(spec: ModelSpec): ScoreSpec {
  switch (spec.family) {
    case 'cae':
      return caeScoreSpec(spec);
    case 'ncae':
      return ncaeScoreSpec(spec);
    case 'aesc':
      return aescScoreSpec(spec);
    case 'vae':
      return vaeScoreSpec(spec);
  }
}

export function modelOutputs(spec: ModelSpec): OutputSpec[] {
  switch (spec.family) {
    case 'cae':
      return caeOutputs(spec);
    case 'ncae':
      return ncaeOutputs(spec);
    case 'aesc':
      return aescOutputs(spec);
    case 'vae':
      return vaeOutputs(spec);
  }
}

/** MC-Dropout description for the card, for families that have it. */
export function modelMcDropout(spec: ModelSpec): McDropoutSpec | undefined {
  if (spec.family !== 'aesc') return undefined;
  const mc = aescMcDropoutSpec(spec);
  return mc.maskInputs.length > 0 ? mc : undefined;
}

/** Whether the family trains on stain-corrupted inputs (target = clean image). */
export function usesStainNoise(spec: ModelSpec): boolean {
  return spec.family === 'aesc';
}
