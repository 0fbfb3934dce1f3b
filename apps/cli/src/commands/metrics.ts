export interface ImageMetrics {
  auroc: number | null;
  ap: number | null;
  f1: number;
  precision: number;
  recall: number;
  accuracy: number;
  f1Max: number | null;
  f1MaxThreshold: number | null;
  confusion: { tp: number; fp: number; tn: number; fn: number };
  roc: { fpr: number[]; tpr: number[] };
  pr: { recall: number[]; precision: number[] };
}

export interface PixelMetrics {
  auroc: number | null;
  aupro: number | null;
}

export function computeImageMetrics(_scores: Float64Array, _labels: Uint8Array, _threshold: number): ImageMetrics {
  throw new Error('metrics: not wired yet (waiting for @residuum/scoring metrics)');
}

export function computePixelMetrics(_maps: Float32Array[], _masks: Uint8Array[]): PixelMetrics {
  throw new Error('metrics: not wired yet (waiting for @residuum/scoring metrics)');
}
