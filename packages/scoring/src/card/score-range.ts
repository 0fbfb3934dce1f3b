/**
 * The range an image (or pixel) score can take under a card's score spec, so that a threshold
 * outside it (one that flags every part, or none) is refused by the card validator.
 */
import type { ScoreSpec } from './model-card.js';

export interface ScoreRange {
  min: number;
  max: number;
  /** Why, in words (shown in the validator's message). */
  why: string;
}

/**
 * Residual maps (squared, absolute, a model's squared feature error) are >= 0, 1 - SSIM lies in
 * [0, 2], and mean / max / top-k means keep those bounds. A per-position standardization (z-scores)
 * can be negative; an f-AnoGAN kappa term adds kappa times a residual >= 0.
 */
export function scoreRange(score: ScoreSpec, level: 'image' | 'pixel' = 'image'): ScoreRange {
  if (score.map.positionStandardization !== undefined) return { min: -Infinity, max: Infinity, why: 'per-position standardized map' };
  let min = 0;
  let max = score.map.kind === 'ssim' ? 2 : Infinity;
  let why = score.map.kind === 'ssim' ? '1 - SSIM lies in [0, 2]' : `a ${score.map.kind === 'model-output' ? "model's error" : score.map.kind} map is >= 0`;
  const kappa = score.image.kappa;
  if (level === 'image' && kappa !== undefined && kappa !== 0) {
    if (kappa > 0) max = Infinity;
    else min = -Infinity;
    why += `, plus kappa (${kappa}) times a residual >= 0`;
  }
  return { min, max, why };
}
