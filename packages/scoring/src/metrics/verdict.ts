/** The one verdict rule of Residuum: a part is anomalous when its score reaches the threshold. */
export function isAnomalous(score: number, threshold: number): boolean {
  return score >= threshold;
}
