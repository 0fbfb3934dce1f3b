/**
 * How wide DFR's latent may be when its head is spliced behind an ONNX backbone. The exported file
 * is the backbone plus the head, and issue #15 limits one file to 64 MB float32 / 32 MB with fp16
 * storage (every weight halved). PCA alone picks widths that break that on textured parts: ResNet-50
 * layer1-layer3 (1792 channels) on magnetic_tile kept 476 dims for 90 % of the variance, a 33.9 MB
 * head and a 67.9 MB file. So the width is capped at the largest one whose head fits the budget that
 * the backbone file leaves; the card and the training log say when that happened and how much
 * variance the capped width keeps.
 *
 * The TF.js MobileNet DFR is not capped: its file is a few MB at any width PCA picks.
 */
import { autoencoderWidths } from './graph.js';

/** Issue #15's limit for one exported feature-family file, float32 (fp16 storage: half of it). */
export const FEATURE_FILE_LIMIT_BYTES = 64_000_000;

/**
 * The budget a spliced DFR file is held to by default: 7/8 of the limit (56 MB float32, 28 MB fp16
 * storage), leaving room for the card and graph (under 0.2 MB today) and for a backbone file that
 * grows a little. For ResNet-50 (34.1 MB to layer3) this caps the latent at 244 of 1792 dims.
 */
export const DFR_SPLICED_FILE_BUDGET_BYTES = 56_000_000;

const FLOAT32_BYTES = 4;

/** Weights of the DFR autoencoder (autoencoderLayers: Dense/1x1 conv with bias, BatchNormalization with 4 vectors after hidden layers). */
export function autoencoderParameterCount(featureChannels: number, latent: number): number {
  const widths = autoencoderWidths(featureChannels, latent);
  let count = 0;
  let inputs = featureChannels;
  widths.forEach((units, i) => {
    count += inputs * units + units;
    const linear = i === 2 || i === widths.length - 1;
    if (!linear) count += 4 * units;
    inputs = units;
  });
  return count;
}

/** float32 bytes of the head's weights: the autoencoder plus the feature standardization (mean and std per channel). */
export function dfrHeadBytes(featureChannels: number, latent: number): number {
  return FLOAT32_BYTES * (autoencoderParameterCount(featureChannels, latent) + 2 * featureChannels);
}

export interface LatentCap {
  /** The widest latent whose head fits: backboneBytes + dfrHeadBytes(C, width) <= budgetBytes (at most C). */
  width: number;
  budgetBytes: number;
  backboneBytes: number;
  /** dfrHeadBytes at `width`. */
  headBytes: number;
}

/** The widest latent (1..featureChannels) that keeps backbone + head within `budgetBytes`; throws when not even 1 fits. */
export function latentCapForBudget(featureChannels: number, backboneBytes: number, budgetBytes: number, backboneName = 'the backbone'): LatentCap {
  if (!Number.isInteger(featureChannels) || featureChannels < 1) throw new Error(`latentCapForBudget: featureChannels must be a positive integer, got ${featureChannels}`);
  if (!(backboneBytes >= 0) || !(budgetBytes > 0)) throw new Error(`latentCapForBudget: byte sizes must be non-negative numbers, got backbone ${backboneBytes}, budget ${budgetBytes}`);
  let width = 0;
  // dfrHeadBytes grows with the width, so the first width that does not fit ends the search.
  for (let latent = 1; latent <= featureChannels; latent++) {
    if (backboneBytes + dfrHeadBytes(featureChannels, latent) > budgetBytes) break;
    width = latent;
  }
  if (width === 0) {
    throw new Error(
      `the file budget of ${megabytes(budgetBytes)} leaves no room for a DFR head behind ${backboneName} (${megabytes(backboneBytes)}): ` +
        `even a latent width of 1 needs ${megabytes(dfrHeadBytes(featureChannels, 1))} for ${featureChannels} feature channels`,
    );
  }
  return { width, budgetBytes, backboneBytes, headBytes: dfrHeadBytes(featureChannels, width) };
}

/** Fraction of the total variance held by the `width` largest eigenvalues (negative round-off counts as 0). */
export function varianceKept(eigenvaluesDescending: ArrayLike<number>, width: number): number {
  let total = 0;
  let kept = 0;
  for (let i = 0; i < eigenvaluesDescending.length; i++) {
    const value = Math.max(0, eigenvaluesDescending[i]);
    total += value;
    if (i < width) kept += value;
  }
  return total > 0 ? kept / total : 0;
}

export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
