/**
 * Validation and ONNX-metadata round trip of the model card. Every problem is collected, so a
 * broken card is fixed in one go rather than one error at a time.
 */
import { scoreRange, type ScoreRange } from './score-range.js';
import { CHANNEL_ORDERS, METADATA_PREFIX, MODEL_CARD_SCHEMA_VERSION, type ModelCard, PIXEL_DIVISORS, type ScoreSpec } from './model-card.js';

export class ModelCardError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], context = 'invalid model card') {
    super(`${context}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ModelCardError';
    this.problems = problems;
  }
}

export const METADATA_KEYS = {
  card: `${METADATA_PREFIX}card`,
  schemaVersion: `${METADATA_PREFIX}schema_version`,
  family: `${METADATA_PREFIX}family`,
} as const;

const FAMILIES = ['cae', 'ncae', 'vae', 'aesc', 'fanogan', 'dfr', 'patchcore'];
const OUTPUT_MEANINGS = [
  'reconstruction',
  'latent-mean',
  'latent-log-variance',
  'feature-error-map',
  'anomaly-map',
  'discriminator-feature-residual',
  'dropout-mask',
];
const THRESHOLD_METHODS = ['quantile', 'mean-std', 'target-fpr', 'target-recall', 'f1-optimal', 'manual'];

type Json = Record<string, unknown>;

class Checker {
  readonly problems: string[] = [];
  problem(path: string, message: string): void {
    this.problems.push(`${path}: ${message}`);
  }
  object(value: unknown, path: string): Json | undefined {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.problem(path, `must be an object, got ${describe(value)}`);
      return undefined;
    }
    return value as Json;
  }
  string(value: unknown, path: string, optional = false): void {
    if (optional && value === undefined) return;
    if (typeof value !== 'string' || value.length === 0) this.problem(path, `must be a non-empty string, got ${describe(value)}`);
  }
  number(value: unknown, path: string, opts: { optional?: boolean; integer?: boolean; min?: number; max?: number } = {}): void {
    if (opts.optional && value === undefined) return;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.problem(path, `must be a finite number, got ${describe(value)}`);
      return;
    }
    if (opts.integer && !Number.isInteger(value)) this.problem(path, `must be an integer, got ${value}`);
    if (opts.min !== undefined && value < opts.min) this.problem(path, `must be >= ${opts.min}, got ${value}`);
    if (opts.max !== undefined && value > opts.max) this.problem(path, `must be <= ${opts.max}, got ${value}`);
  }
  oneOf(value: unknown, allowed: readonly unknown[], path: string, optional = false): void {
    if (optional && value === undefined) return;
    if (!allowed.includes(value)) this.problem(path, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(value)}`);
  }
  array(value: unknown, path: string): unknown[] | undefined {
    if (!Array.isArray(value)) {
      this.problem(path, `must be an array, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }
  shape(value: unknown, path: string): void {
    const dims = this.array(value, path);
    dims?.forEach((d, i) => {
      if (d !== 'N' && !(typeof d === 'number' && Number.isInteger(d) && d > 0)) this.problem(`${path}[${i}]`, `must be a positive integer or 'N', got ${describe(d)}`);
    });
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** An 'anomaly-map' output is score.map computed in the graph: it must be able to stand for it. */
function checkGraphAnomalyMap(c: Checker, card: Json): void {
  const outputs = Array.isArray(card.outputs) ? (card.outputs as unknown[]) : [];
  const meaningOf = (o: unknown) => (o !== null && typeof o === 'object' ? (o as Json).meaning : undefined);
  const index = outputs.findIndex((o) => meaningOf(o) === 'anomaly-map');
  if (index < 0) return;
  const path = `outputs[${index}]`;
  if (outputs.filter((o) => meaningOf(o) === 'anomaly-map').length > 1) c.problem('outputs', "lists more than one 'anomaly-map' output");
  if (!outputs.some((o) => meaningOf(o) === 'reconstruction')) c.problem(path, "an 'anomaly-map' output needs a 'reconstruction' output beside it");
  const map = (card.score as Json | undefined)?.map as Json | undefined;
  if (map?.kind === 'model-output') c.problem(path, "an 'anomaly-map' output cannot stand for score.map.kind 'model-output'");
  if (map?.positionStandardization !== undefined) c.problem(path, "an 'anomaly-map' output cannot be combined with score.map.positionStandardization (the runtime applies it)");
  const shape = (outputs[index] as Json).shape;
  const inputShape = (card.input as Json | undefined)?.shape;
  if (Array.isArray(shape) && Array.isArray(inputShape) && JSON.stringify(shape) !== JSON.stringify(['N', 1, inputShape[2], inputShape[3]])) {
    c.problem(`${path}.shape`, `must be ['N', 1, ${String(inputShape[2])}, ${String(inputShape[3])}] (one map at the input size), got ${JSON.stringify(shape)}`);
  }
}

/** A threshold the score can never reach (or always exceeds) flags nothing (or every part): refused. */
function checkInScoreRange(c: Checker, value: unknown, path: string, score: unknown, level: 'image' | 'pixel'): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || score === null || typeof score !== 'object') return;
  let range: ScoreRange;
  try {
    range = scoreRange(score as ScoreSpec, level);
  } catch {
    return; // the score spec itself is reported by its own checks
  }
  if (value < range.min || value > range.max) {
    c.problem(path, `${value} is outside the range the ${level} score can take ([${range.min}, ${range.max}]: ${range.why}); ${value < range.min ? 'every part would be flagged' : 'no part would ever be flagged'}`);
  }
}

function checkPositionStandardization(c: Checker, value: unknown): void {
  const path = 'score.map.positionStandardization';
  const stats = c.object(value, path);
  if (!stats) return;
  c.number(stats.width, `${path}.width`, { integer: true, min: 1 });
  c.number(stats.height, `${path}.height`, { integer: true, min: 1 });
  c.string(stats.fittedOn, `${path}.fittedOn`);
  const size = typeof stats.width === 'number' && typeof stats.height === 'number' ? stats.width * stats.height : undefined;
  for (const key of ['mean', 'scale'] as const) {
    const values = c.array(stats[key], `${path}.${key}`);
    if (!values) continue;
    if (size !== undefined && values.length !== size) c.problem(`${path}.${key}`, `must hold width x height = ${size} values, has ${values.length}`);
    const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v) || (key === 'scale' && v <= 0));
    if (bad >= 0) c.problem(`${path}.${key}[${bad}]`, `must be a finite number${key === 'scale' ? ' > 0' : ''}, got ${describe(values[bad])}`);
  }
}

function schemaVersionProblem(version: unknown): string | undefined {
  if (version === MODEL_CARD_SCHEMA_VERSION) return undefined;
  if (typeof version === 'number' && Number.isInteger(version)) {
    return version > MODEL_CARD_SCHEMA_VERSION
      ? `schemaVersion ${version} is newer than this Residuum supports (${MODEL_CARD_SCHEMA_VERSION}): upgrade Residuum to read this model`
      : `schemaVersion ${version} is older than this Residuum supports (${MODEL_CARD_SCHEMA_VERSION}): re-export the model with a current trainer/converter`;
  }
  return `schemaVersion must be ${MODEL_CARD_SCHEMA_VERSION}, got ${describe(version)}`;
}

/** Returns the value typed as a ModelCard, or throws ModelCardError listing every problem. */
export function validateModelCard(value: unknown): ModelCard {
  const c = new Checker();
  const card = c.object(value, 'card');
  if (!card) throw new ModelCardError(c.problems);
  const versionProblem = schemaVersionProblem(card.schemaVersion);
  if (versionProblem) c.problems.push(versionProblem);
  c.oneOf(card.family, FAMILIES, 'family');
  c.string(card.name, 'name');
  if (card.description !== undefined && typeof card.description !== 'string') c.problem('description', 'must be a string');

  const pre = c.object(card.preprocessing, 'preprocessing');
  if (pre) {
    c.number(pre.width, 'preprocessing.width', { integer: true, min: 1 });
    c.number(pre.height, 'preprocessing.height', { integer: true, min: 1 });
    c.oneOf(pre.channels, [1, 3], 'preprocessing.channels');
    c.oneOf(pre.resize, ['fill', 'center-crop'], 'preprocessing.resize');
    c.oneOf(pre.interpolation, ['bilinear', 'nearest'], 'preprocessing.interpolation');
    for (const key of ['mean', 'std'] as const) {
      const values = c.array(pre[key], `preprocessing.${key}`);
      if (values) {
        if (values.length !== pre.channels) c.problem(`preprocessing.${key}`, `must have one entry per channel (${String(pre.channels)}), got ${values.length}`);
        values.forEach((v, i) => c.number(v, `preprocessing.${key}[${i}]`));
        if (key === 'std' && values.some((v) => v === 0)) c.problem('preprocessing.std', 'must not contain 0');
      }
    }
    if (pre.channelOrder !== undefined) {
      c.oneOf(pre.channelOrder, CHANNEL_ORDERS, 'preprocessing.channelOrder');
      if (pre.channelOrder === 'bgr' && pre.channels !== 3) c.problem('preprocessing.channelOrder', `'bgr' needs channels 3, got ${String(pre.channels)}`);
    }
    if (pre.pixelDivisor !== undefined) c.oneOf(pre.pixelDivisor, PIXEL_DIVISORS, 'preprocessing.pixelDivisor');
  }

  const input = c.object(card.input, 'input');
  if (input) {
    c.string(input.name, 'input.name');
    c.oneOf(input.layout, ['NCHW'], 'input.layout');
    const shape = c.array(input.shape, 'input.shape');
    if (shape) {
      if (shape.length !== 4 || shape[0] !== 'N') c.problem('input.shape', `must be ['N', channels, height, width], got ${JSON.stringify(shape)}`);
      else {
        shape.slice(1).forEach((d, i) => c.number(d, `input.shape[${i + 1}]`, { integer: true, min: 1 }));
        if (pre && (shape[1] !== pre.channels || shape[2] !== pre.height || shape[3] !== pre.width)) {
          c.problem('input.shape', `[N, ${String(shape[1])}, ${String(shape[2])}, ${String(shape[3])}] disagrees with preprocessing (${String(pre.channels)} x ${String(pre.height)} x ${String(pre.width)})`);
        }
      }
    }
  }

  const outputs = c.array(card.outputs, 'outputs');
  if (outputs) {
    if (outputs.length === 0) c.problem('outputs', 'must list at least one output');
    outputs.forEach((o, i) => {
      const out = c.object(o, `outputs[${i}]`);
      if (!out) return;
      c.string(out.name, `outputs[${i}].name`);
      c.oneOf(out.meaning, OUTPUT_MEANINGS, `outputs[${i}].meaning`);
      c.shape(out.shape, `outputs[${i}].shape`);
    });
  }

  const score = c.object(card.score, 'score');
  if (score) {
    const map = c.object(score.map, 'score.map');
    if (map) {
      c.oneOf(map.kind, ['squared', 'absolute', 'ssim', 'model-output'], 'score.map.kind');
      c.oneOf(map.channelReduction, ['mean', 'max', 'sum'], 'score.map.channelReduction');
      c.number(map.smoothingSigma, 'score.map.smoothingSigma', { min: 0 });
      c.oneOf(map.smoothingAt, ['map', 'input'], 'score.map.smoothingAt', true);
      if (map.smoothingAt === 'input' && map.kind !== 'model-output') c.problem('score.map.smoothingAt', "'input' applies to score.map.kind 'model-output' only");
      c.number(map.ssimWindowSize, 'score.map.ssimWindowSize', { optional: true, integer: true, min: 1 });
      c.number(map.ssimSigma, 'score.map.ssimSigma', { optional: true, min: 0 });
      c.number(map.ssimDynamicRange, 'score.map.ssimDynamicRange', { optional: true, min: Number.MIN_VALUE });
      if (map.positionStandardization !== undefined) checkPositionStandardization(c, map.positionStandardization);
    }
    const image = c.object(score.image, 'score.image');
    if (image) {
      c.oneOf(image.kind, ['mean', 'max', 'top-k-mean'], 'score.image.kind');
      c.number(image.topKFraction, 'score.image.topKFraction', { optional: image.kind !== 'top-k-mean', min: Number.MIN_VALUE, max: 1 });
      c.number(image.kappa, 'score.image.kappa', { optional: true });
    }
  }

  const threshold = c.object(card.threshold, 'threshold');
  if (threshold) {
    c.number(threshold.value, 'threshold.value');
    checkInScoreRange(c, threshold.value, 'threshold.value', card.score, 'image');
    c.oneOf(threshold.method, THRESHOLD_METHODS, 'threshold.method');
    const params = c.object(threshold.params, 'threshold.params');
    if (params) {
      for (const [k, v] of Object.entries(params)) {
        if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) c.problem(`threshold.params.${k}`, `must be a finite number or a string, got ${describe(v)}`);
      }
    }
    const fitted = c.object(threshold.fittedOn, 'threshold.fittedOn');
    if (fitted) {
      for (const k of ['count', 'normal', 'anomalous'] as const) c.number(fitted[k], `threshold.fittedOn.${k}`, { integer: true, min: 0 });
      if (typeof fitted.source !== 'string') c.problem('threshold.fittedOn.source', `must be a string, got ${describe(fitted.source)}`);
    }
    if (threshold.note !== undefined && typeof threshold.note !== 'string') c.problem('threshold.note', 'must be a string');
  }

  const cal = c.object(card.calibration, 'calibration');
  if (cal) {
    c.number(cal.count, 'calibration.count', { integer: true, min: 0 });
    for (const k of ['min', 'max', 'mean', 'std'] as const) c.number(cal[k], `calibration.${k}`);
    if (typeof cal.min === 'number' && typeof cal.max === 'number' && cal.min > cal.max) c.problem('calibration', `min (${cal.min}) is greater than max (${cal.max})`);
    const q = c.object(cal.quantiles, 'calibration.quantiles');
    if (q) for (const [k, v] of Object.entries(q)) c.number(v, `calibration.quantiles["${k}"]`);
    c.number(cal.pixelThreshold, 'calibration.pixelThreshold', { optional: true });
    if (cal.pixelThreshold !== undefined) checkInScoreRange(c, cal.pixelThreshold, 'calibration.pixelThreshold', card.score, 'pixel');
  }

  if (card.mcDropout !== undefined) {
    const mc = c.object(card.mcDropout, 'mcDropout');
    if (mc) {
      c.number(mc.samples, 'mcDropout.samples', { integer: true, min: 1 });
      c.number(mc.seed, 'mcDropout.seed', { integer: true, min: 0, max: 0xffffffff, optional: true });
      const masks = c.array(mc.maskInputs, 'mcDropout.maskInputs');
      masks?.forEach((m, i) => {
        const mask = c.object(m, `mcDropout.maskInputs[${i}]`);
        if (!mask) return;
        c.string(mask.name, `mcDropout.maskInputs[${i}].name`);
        c.shape(mask.shape, `mcDropout.maskInputs[${i}].shape`);
        c.number(mask.rate, `mcDropout.maskInputs[${i}].rate`, { min: 0, max: 0.999999 });
      });
    }
  }

  const training = c.object(card.training, 'training');
  if (training) {
    c.string(training.dataFingerprint, 'training.dataFingerprint');
    if (typeof training.dataDescription !== 'string') c.problem('training.dataDescription', `must be a string, got ${describe(training.dataDescription)}`);
    c.number(training.imageCount, 'training.imageCount', { integer: true, min: 0 });
    c.number(training.epochs, 'training.epochs', { integer: true, min: 0 });
    c.number(training.seed, 'training.seed', { integer: true });
    c.string(training.backend, 'training.backend');
    c.string(training.loss, 'training.loss');
    c.string(training.command, 'training.command', true);
    c.string(training.interrupted, 'training.interrupted', true);
  }

  if (typeof card.createdAt !== 'string' || Number.isNaN(Date.parse(card.createdAt))) c.problem('createdAt', `must be an ISO 8601 date string, got ${describe(card.createdAt)}`);
  const producer = c.object(card.producer, 'producer');
  if (producer) {
    c.string(producer.trainer, 'producer.trainer', true);
    c.string(producer.converter, 'producer.converter', true);
  }
  if (card.extras !== undefined) c.object(card.extras, 'extras');
  checkGraphAnomalyMap(c, card);

  if (c.problems.length > 0) throw new ModelCardError(c.problems);
  return value as ModelCard;
}

/** Parses model-card JSON text (e.g. a run folder's model-card.json) and validates it. */
export function parseModelCard(json: string, source = 'model card'): ModelCard {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new ModelCardError([`not valid JSON (${(error as Error).message})`], `invalid ${source}`);
  }
  try {
    return validateModelCard(value);
  } catch (error) {
    if (error instanceof ModelCardError) throw new ModelCardError(error.problems, `invalid ${source}`);
    throw error;
  }
}

/** ONNX metadata_props entries for a card (validated first). */
export function modelCardToMetadata(card: ModelCard): Record<string, string> {
  const valid = validateModelCard(card);
  return {
    [METADATA_KEYS.card]: JSON.stringify(valid),
    [METADATA_KEYS.schemaVersion]: String(valid.schemaVersion),
    [METADATA_KEYS.family]: valid.family,
  };
}

/** Reads the card back from ONNX metadata_props; `residuum.card` is authoritative. */
export function modelCardFromMetadata(entries: Record<string, string>): ModelCard {
  if (entries === null || typeof entries !== 'object') throw new TypeError('modelCardFromMetadata: entries must be an object of strings');
  const keys = Object.keys(entries);
  if (!keys.some((k) => k.startsWith(METADATA_PREFIX))) {
    throw new ModelCardError(
      [`no "${METADATA_PREFIX}*" metadata key (found: ${keys.length ? keys.join(', ') : 'none'})`],
      'not a Residuum model',
    );
  }
  const version = entries[METADATA_KEYS.schemaVersion];
  if (version !== undefined) {
    const problem = schemaVersionProblem(Number(version));
    if (problem) throw new ModelCardError([`${METADATA_KEYS.schemaVersion}: ${problem}`], 'unsupported Residuum model');
  }
  const json = entries[METADATA_KEYS.card];
  if (json === undefined) throw new ModelCardError([`metadata key "${METADATA_KEYS.card}" is missing`], 'incomplete Residuum model');
  const card = parseModelCard(json, `"${METADATA_KEYS.card}" metadata`);
  const family = entries[METADATA_KEYS.family];
  if (family !== undefined && family !== card.family) {
    throw new ModelCardError([`${METADATA_KEYS.family} is "${family}" but the card says "${card.family}"`], `inconsistent Residuum model`);
  }
  return card;
}
