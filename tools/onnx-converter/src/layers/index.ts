/**
 * The layer converters by TF.js Layers class name, one registry per kind (as tfjs-layers keeps
 * one file per kind). A class registered by two kinds is a programming error, caught at load.
 */
import { ACTIVATION_LAYERS } from './activations.js';
import type { LayerConverter, LayerRegistry } from './context.js';
import { CONVOLUTION_LAYERS } from './convolution.js';
import { CORE_LAYERS } from './core.js';
import { MERGING_LAYERS } from './merging.js';
import { NORMALIZATION_LAYERS } from './normalization.js';
import { POOLING_LAYERS } from './pooling.js';
import { RESIDUUM_LAYERS } from './residuum.js';

export type { FoldableConv, LayerContext, LayerConverter, LayerRegistry, Value } from './context.js';
export { applyActivation } from './activations.js';

function mergeRegistries(registries: Record<string, LayerRegistry>): ReadonlyMap<string, LayerConverter> {
  const merged = new Map<string, LayerConverter>();
  const kindOf = new Map<string, string>();
  for (const [kind, registry] of Object.entries(registries)) {
    for (const [className, converter] of Object.entries(registry)) {
      const other = kindOf.get(className);
      if (other) throw new Error(`layer class ${className} is registered by both ${other} and ${kind}`);
      kindOf.set(className, kind);
      merged.set(className, converter);
    }
  }
  return merged;
}

export const LAYER_CONVERTERS: ReadonlyMap<string, LayerConverter> = mergeRegistries({
  convolution: CONVOLUTION_LAYERS,
  normalization: NORMALIZATION_LAYERS,
  activations: ACTIVATION_LAYERS,
  pooling: POOLING_LAYERS,
  merging: MERGING_LAYERS,
  core: CORE_LAYERS,
  residuum: RESIDUUM_LAYERS,
});

/** Every TF.js Layers class the converter handles. */
export const SUPPORTED_LAYER_CLASSES: readonly string[] = [...LAYER_CONVERTERS.keys()];
