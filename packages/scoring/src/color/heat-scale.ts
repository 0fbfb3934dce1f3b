import type { ModelCard } from '../card/model-card.js';

/**
 * The top of the colour scale for saved heatmap pictures: twice the card's pixel threshold (so
 * the threshold sits mid-scale), else twice the given image threshold, else 1. The CLI's
 * `--maps` pictures and the line service's heatmaps use this one rule.
 */
export function heatScaleMax(card: ModelCard, threshold: number = card.threshold.value): number {
  const reference = card.calibration.pixelThreshold ?? threshold;
  return reference > 0 && Number.isFinite(reference) ? 2 * reference : 1;
}
