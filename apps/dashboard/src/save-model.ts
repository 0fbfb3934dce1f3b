/**
 * "Save model with this threshold": the loaded ONNX file with its card's threshold set to the
 * slider's value, recorded the way `residuum calibrate` records a threshold (scoring's
 * calibrateThreshold and withCalibratedThreshold, the converter's withModelCard: the same card code).
 */
import { withModelCard } from '@residuum/onnx-converter/model-card';
import {
  calibrateThreshold,
  fingerprintEntries,
  IMAGE_SET_FINGERPRINT_RULE,
  manualThreshold,
  relativeToCommonFolder,
  withCalibratedThreshold,
  type CalibrationRecord,
  type ModelCard,
} from '@residuum/scoring';

export interface LabelledScore {
  score: number;
  truth?: 'good' | 'defective';
  /** The image's path in the session (relative path of a dropped folder, or its name) and its bytes. */
  file?: { path: string; bytes: Uint8Array };
}

/** What the card records of one labelled set beside its count: the fingerprint `residuum calibrate` writes for the same files. */
export interface SessionSetFingerprint {
  fingerprint: string;
  folder: string;
}

export type SessionFingerprints = Partial<Record<'good' | 'defective', SessionSetFingerprint>>;

/** The fingerprints of the session's good and defective images (a set is left out when one of its images has no bytes). */
export async function sessionFingerprints(session: readonly LabelledScore[]): Promise<SessionFingerprints> {
  const out: SessionFingerprints = {};
  for (const role of ['good', 'defective'] as const) {
    const images = session.filter((s) => s.truth === role);
    if (images.length === 0 || images.some((s) => s.file === undefined)) continue;
    const { folder, relPaths } = relativeToCommonFolder(images.map((s) => s.file!.path));
    out[role] = { folder, fingerprint: await fingerprintEntries(images.map((s, i) => ({ relPath: relPaths[i], bytes: s.file!.bytes }))) };
  }
  return out;
}

/** The new card: manual threshold, with recall / false-alarm rate on the session's labelled images when there are good ones. */
export function cardWithSessionThreshold(
  card: ModelCard,
  threshold: number,
  session: readonly LabelledScore[],
  tool: string,
  fingerprints: SessionFingerprints = {},
  createdAt = new Date().toISOString(),
): ModelCard {
  const good = session.filter((s) => s.truth === 'good').map((s) => s.score);
  const defective = session.filter((s) => s.truth === 'defective').map((s) => s.score);
  const source = 'dashboard session (labels from folder names)';
  const set = (role: 'good' | 'defective', count: number): CalibrationRecord['sets'][number] => {
    const print = fingerprints[role];
    if (!print) return { role, count, description: `${count} ${role} images of a ${source}` };
    const folder = print.folder.split('/').pop() || '.';
    return { role, count, fingerprint: print.fingerprint, description: `${count} ${role} images of a ${source}, under ${folder}/ (${IMAGE_SET_FINGERPRINT_RULE})` };
  };
  const sets: CalibrationRecord['sets'] = [...(good.length ? [set('good', good.length)] : []), ...(defective.length ? [set('defective', defective.length)] : [])];
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

/** The model file's bytes with the new card (graph and weights copied byte for byte); the labelled sets are fingerprinted. */
export async function modelWithSessionThreshold(onnx: Uint8Array, card: ModelCard, threshold: number, session: readonly LabelledScore[], tool: string): Promise<Uint8Array> {
  return withModelCard(onnx, cardWithSessionThreshold(card, threshold, session, tool, await sessionFingerprints(session)));
}

/** "default.onnx" + 5.67 -> "default-threshold-5.67.onnx". */
export function savedModelName(name: string, threshold: number): string {
  const base = name.replace(/^.*[\\/]/, '').replace(/\.onnx$/i, '') || 'model';
  return `${base}-threshold-${threshold.toPrecision(4)}.onnx`;
}
