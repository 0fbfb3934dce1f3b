/**
 * ROC of the session from the ground truth the folder names give. The metric itself comes
 * from @residuum/scoring (the one implementation every package uses).
 */
import type { PanelEntry } from '@residuum/inspection-panel';
import { auroc, rocCurve, verdictCounts, type VerdictCounts } from '@residuum/scoring';

export interface SessionRoc {
  points: Array<{ fpr: number; tpr: number }>;
  auroc: number;
  /** Where the current threshold sits on the curve. */
  operatingPoint: { fpr: number; tpr: number };
  good: number;
  defective: number;
  /** Caught / rejected at the threshold, with exact 95 % intervals (the slider's live recall and false-alarm rate). */
  counts: VerdictCounts;
}

/** undefined unless the session has both good and defective images (by folder name). */
export function rocFromEntries(entries: readonly PanelEntry[], threshold: number): SessionRoc | undefined {
  const scores: number[] = [];
  const labels: Array<0 | 1> = [];
  for (const entry of entries) {
    if (!entry.result.ok || entry.truth === undefined) continue;
    scores.push(entry.result.score);
    labels.push(entry.truth === 'defective' ? 1 : 0);
  }
  const defective = labels.filter((label) => label === 1).length;
  const good = labels.length - defective;
  if (good === 0 || defective === 0) return undefined;
  const curve = rocCurve(scores, labels);
  const counts = verdictCounts(scores, labels, threshold);
  return {
    points: Array.from(curve.fpr, (fpr, i) => ({ fpr, tpr: curve.tpr[i] })),
    auroc: auroc(scores, labels),
    operatingPoint: { fpr: counts.rejected / good, tpr: counts.caught / defective },
    good,
    defective,
    counts,
  };
}
