/**
 * Evaluation metrics, all computed by @residuum/scoring (the one place metrics live); this
 * file only gathers them into the shape the JSON and the report use.
 */
import {
  aupro,
  auroc,
  averagePrecision,
  confusionAtThreshold,
  f1Max,
  isAnomalous,
  operatingPoints,
  pixelAuroc,
  prCurve,
  rocCurve,
  verdictCounts,
  type OperatingPoints,
  type SegmentationSample,
  type VerdictCounts,
} from '@residuum/scoring';

export interface ImageMetrics {
  auroc: number;
  ap: number;
  /** At the threshold given (score >= threshold is anomalous). */
  f1: number;
  precision: number;
  recall: number;
  accuracy: number;
  /** Mean of recall and specificity at the threshold: 0.5 at chance whatever the class balance (unlike F1). */
  balancedAccuracy: number;
  f1Max: number;
  f1MaxThreshold: number;
  confusion: { tp: number; fp: number; tn: number; fn: number };
  /** Caught / rejected counts at the threshold with exact (Clopper-Pearson) 95 % intervals. */
  atThreshold: VerdictCounts;
  /** Recall at false-alarm rates 0.1 / 1 / 5 % and false-alarm rate at recall 90 / 95 / 99 %. */
  operatingPoints: OperatingPoints;
  roc: { fpr: number[]; tpr: number[] };
  pr: { recall: number[]; precision: number[] };
}

export interface PixelMetrics {
  auroc: number;
  /** Area under the PRO curve up to FPR 0.3, normalized by 0.3 (MVTec AD protocol). */
  aupro: number;
}

/** Needs good and defective images (the caller checks, scoring throws otherwise). */
export function computeImageMetrics(scores: Float64Array, labels: Uint8Array, threshold: number): ImageMetrics {
  const atThreshold = confusionAtThreshold(scores, labels, threshold);
  const best = f1Max(scores, labels);
  const roc = rocCurve(scores, labels);
  const pr = prCurve(scores, labels);
  return {
    auroc: auroc(scores, labels),
    ap: averagePrecision(scores, labels),
    f1: atThreshold.f1,
    precision: atThreshold.precision,
    recall: atThreshold.recall,
    accuracy: atThreshold.accuracy,
    balancedAccuracy: (atThreshold.recall + 1 - atThreshold.falsePositiveRate) / 2,
    f1Max: best.f1,
    f1MaxThreshold: best.threshold,
    confusion: { tp: atThreshold.tp, fp: atThreshold.fp, tn: atThreshold.tn, fn: atThreshold.fn },
    atThreshold: verdictCounts(scores, labels, threshold),
    operatingPoints: operatingPoints(scores, labels),
    roc: { fpr: Array.from(roc.fpr), tpr: Array.from(roc.tpr) },
    // From recall 0 (precision 1) so the drawn curve starts at the top left, as sklearn's does.
    pr: { recall: [0, ...pr.recall], precision: [1, ...pr.precision] },
  };
}

/** One map and its mask (at the map's resolution) per scored image; good images have empty masks. */
export function computePixelMetrics(samples: readonly SegmentationSample[]): PixelMetrics {
  return { auroc: pixelAuroc(samples), aupro: aupro(samples, 0.3) };
}

export interface DefectTypeMetrics {
  defectType: string;
  count: number;
  /** Good images vs this defect type only. */
  auroc: number;
  /** Share of this type's images at or above the threshold. */
  detectionRate: number;
}

/** Per defect type (MVTec classes, anomaly folders): how well each is told apart from the good images. */
export function computeDefectTypeMetrics(
  results: ReadonlyArray<{ label: 0 | 1; score: number; defectType?: string }>,
  threshold: number,
): DefectTypeMetrics[] {
  const good = results.filter((r) => r.label === 0).map((r) => r.score);
  const types = [...new Set(results.filter((r) => r.label === 1 && r.defectType).map((r) => r.defectType as string))].sort();
  return types.map((defectType) => {
    const bad = results.filter((r) => r.label === 1 && r.defectType === defectType).map((r) => r.score);
    const labels = [...good.map(() => 0), ...bad.map(() => 1)];
    return {
      defectType,
      count: bad.length,
      auroc: auroc([...good, ...bad], labels),
      detectionRate: bad.filter((score) => isAnomalous(score, threshold)).length / bad.length,
    };
  });
}

const percent = (x: number) => `${(100 * x).toFixed(1)} %`;

/** One line: "recall 61.1 % at 1 % false alarms, ..., false alarms 12.3 % at 95 % recall, ...". */
export function describeOperatingPoints(points: OperatingPoints): string {
  return [
    ...points.atFalseAlarmRate.map((p) => `recall ${percent(p.recall)} at ${percent(p.target.value)} false alarms`),
    ...points.atRecall.map((p) => `false alarms ${percent(p.falseAlarmRate)} at ${percent(p.target.value)} recall`),
  ].join(', ');
}
