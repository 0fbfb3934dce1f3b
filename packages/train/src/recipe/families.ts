/**
 * Every trainable family, by its card name: what `residuum train --model` chooses from. A new
 * family is one folder (families/<name>/ with its TrainingFamily) plus one line here.
 */
import type { ModelFamily } from '@residuum/scoring';
import { dfrFamily, type DfrTrainOptions } from '../families/dfr/train-dfr.js';
import { fanoganFamily, type FanoganTrainOptions } from '../families/fanogan/train-fanogan.js';
import { autoencoderFamily, type TrainOptions } from '../families/autoencoder/train.js';
import { patchCoreFamily, type PatchCoreTrainOptions } from '../families/patchcore/train-patchcore.js';
import { runRecipe, type RecipeResult } from './recipe.js';

/** Options of any family, told apart by `model`. */
export type TrainModelOptions =
  | TrainOptions
  | (DfrTrainOptions & { model: 'dfr' })
  | (FanoganTrainOptions & { model: 'fanogan' })
  | (PatchCoreTrainOptions & { model: 'patchcore' });

/** Which shared `residuum train` features a family supports (the CLI refuses the others by name). */
export interface FamilyFeatures {
  /** --resume from the run folder's checkpoint. */
  resume: boolean;
  /** --workers: data-parallel worker threads. */
  workers: boolean;
  /** --patience: early stopping on the validation loss. */
  patience: boolean;
  /** --loss: the reconstruction loss. */
  loss: boolean;
  /** --epochs: gradient training epochs (PatchCore has none: one pass over the images, then the coreset). */
  epochs: boolean;
  /** --lr: a learning rate. */
  learningRate: boolean;
}

const AUTOENCODER: FamilyFeatures = { resume: true, workers: true, patience: true, loss: true, epochs: true, learningRate: true };
const FIXED_RECIPE: FamilyFeatures = { resume: false, workers: false, patience: false, loss: false, epochs: true, learningRate: true };
const MEMORY_BANK: FamilyFeatures = { resume: false, workers: false, patience: false, loss: false, epochs: false, learningRate: false };

export const FAMILY_FEATURES: Readonly<Record<ModelFamily, FamilyFeatures>> = {
  cae: AUTOENCODER,
  ncae: AUTOENCODER,
  vae: AUTOENCODER,
  aesc: AUTOENCODER,
  dfr: FIXED_RECIPE,
  fanogan: FIXED_RECIPE,
  patchcore: MEMORY_BANK,
};

/** Trains any family through the one recipe; the result's `extra` is the family's own part. */
export async function trainModel(options: TrainModelOptions): Promise<RecipeResult<unknown>> {
  if (options == null || typeof options !== 'object') throw new Error('trainModel: options object required');
  switch (options.model) {
    case 'dfr':
      return runRecipe(dfrFamily, options);
    case 'fanogan':
      return runRecipe(fanoganFamily, options);
    case 'patchcore':
      return runRecipe(patchCoreFamily, options);
    default:
      return runRecipe(autoencoderFamily(options.model), options);
  }
}
