/**
 * "Save model with this threshold": the loaded ONNX file with its card's threshold set to the
 * slider's value, recorded the way `residuum calibrate` records a threshold (scoring's
 * calibrateThreshold and withCalibratedThreshold, the converter's withModelCard: the same card code).
 */
import { withModelCard } from '@residuum/onnx-converter/model-card';
import {
  calibrateThreshold,
  manualThreshold,
  withCalibratedThreshold,
  type CalibrationRecord,
  type ModelCard,
} from '@residuum/scoring';

export interface LabelledScore {
  score: number;
  truth?: 'good' | 'defective';
}

/** The new card: manual threshold, with recall / false-alarm rate on the session's labelled images when there are good ones. */
export function cardWithSessionThreshold(card: ModelCard, threshold: number, session: readonly LabelledScore[], tool: string, createdAt = new Date().toISOString()): ModelCard {
  const good = session.filter((s) => s.truth === 'good').map((s) => s.score);
  const defective = session.filter((s) => s.truth === 'defective').map((s) => s.score);
  const source = 'dashboard session (labels from folder names)';
  const sets: CalibrationRecord['sets'] = [
    ...(good.length ? [{ role: 'good' as const, count: good.length, description: `${good.length} good images of a ${source}` }] : []),
    ...(defective.length ? [{ role: 'defective' as const, count: defective.length, description: `${defective.length} defective images of a ${source}` }] : []),
  ];
  const record: CalibrationRecord = { policy: { kind: 'manual', threshold }, sets, warnings: [], previousThreshold: card.threshold, createdAt, tool };
  let spec = manualThreshold(threshold, 'dashboard threshold slider');
  if (good.length > 0) {
    const outcome = calibrateThreshold(good, defective.length > 0 ? defective : undefined, { kind: 'manual', threshold }, { good: `${good.length} good images (${source})`, defective: `${defective.length} defective images (${source})` });
    spec = { ...outcome.threshold, fittedOn: { ...outcome.threshold.fittedOn, source: `dashboard threshold slider; ${outcome.threshold.fittedOn.source}` } };
    record.expected = outcome.expected;
    record.warnings = outcome.warnings;
  } else {
    record.warnings = ['no labelled good image in the session: the false-alarm rate of this threshold is not known'];
  }
  return withCalibratedThreshold(card, record, spec);
}

/** The model file's bytes with the new card (graph and weights copied byte for byte). */
export function modelWithSessionThreshold(onnx: Uint8Array, card: ModelCard, threshold: number, session: readonly LabelledScore[], tool: string): Uint8Array {
  return withModelCard(onnx, cardWithSessionThreshold(card, threshold, session, tool));
}

/** "default.onnx" + 5.67 -> "default-threshold-5.67.onnx". */
export function savedModelName(name: string, threshold: number): string {
  const base = name.replace(/^.*[\\/]/, '').replace(/\.onnx$/i, '') || 'model';
  return `${base}-threshold-${threshold.toPrecision(4)}.onnx`;
}
