/**
 * ROC of the session from the ground truth the folder names give. The metric itself comes
 * from @residuum/scoring (the one implementation every package uses).
 */
import type { PanelEntry } from '@residuum/runtime-web';
import { rocCurveInterim as rocCurve } from './metrics-bridge.js';

export interface SessionRoc {
  points: Array<{ fpr: number; tpr: number }>;
  auroc: number;
  /** Where the current threshold sits on the curve. */
  operatingPoint: { fpr: number; tpr: number };
  good: number;
  defective: number;
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
  let truePositives = 0;
  let falsePositives = 0;
  scores.forEach((score, i) => {
    if (score >= threshold) {
      if (labels[i] === 1) truePositives += 1;
      else falsePositives += 1;
    }
  });
  return {
    points: curve.fpr.map((fpr, i) => ({ fpr, tpr: curve.tpr[i] })),
    auroc: curve.auroc,
    operatingPoint: { fpr: falsePositives / good, tpr: truePositives / defective },
    good,
    defective,
  };
}
