/**
 * INTERIM: @residuum/scoring's ROC/AUROC is being written in parallel; this stand-in has the
 * same meaning (labels 1 = defective = positive, ties handled by grouping equal scores, AUROC
 * by the trapezoid rule) and is to be replaced by the scoring export.
 */
export function rocCurveInterim(scores: readonly number[], labels: readonly (0 | 1)[]): { fpr: number[]; tpr: number[]; auroc: number } {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const positives = labels.filter((l) => l === 1).length;
  const negatives = labels.length - positives;
  const fpr = [0];
  const tpr = [0];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    if (labels[order[k]] === 1) tp += 1;
    else fp += 1;
    if (k === order.length - 1 || scores[order[k + 1]] !== scores[order[k]]) {
      fpr.push(fp / negatives);
      tpr.push(tp / positives);
    }
  }
  let auroc = 0;
  for (let i = 1; i < fpr.length; i++) auroc += ((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1])) / 2;
  return { fpr, tpr, auroc };
}
