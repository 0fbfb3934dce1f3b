import * as tf from '@tensorflow/tfjs';
import { type OutputSpec, type ScoreSpec, SSIM_DEFAULTS } from '@residuum/scoring';
import { RECONSTRUCTION_LOSSES, type ReconstructionLoss } from '../../losses/losses.js';
import type { SeededRandom } from '../../random.js';

/** Fields every model family shares. */
export interface CommonModelSpec {
  /** Square input side in pixels; must be divisible by 2^depth. */
  inputSize: number;
  /** 1 = grey, 3 = RGB. */
  channels: 1 | 3;
  /** Seed of the weight initializers (and of dropout/sampling noise). */
  seed: number;
  /** Reconstruction loss. */
  loss: ReconstructionLoss;
}

/**
 * Batch-norm moving-average momentum. Keras' 0.99 leaves the inference statistics far from the
 * data after the few hundred steps a run here makes (0.99^160 = 20% of the initial values left
 * after one casting epoch), which inflates validation loss; 0.9 converges within ~50 steps.
 */
export const BATCH_NORM_MOMENTUM = 0.9;

export function batchNorm(name: string): tf.layers.Layer {
  return tf.layers.batchNormalization({ momentum: BATCH_NORM_MOMENTUM, name });
}

export function seededGlorot(random: SeededRandom): ReturnType<typeof tf.initializers.glorotUniform> {
  return tf.initializers.glorotUniform({ seed: random.seed() });
}

export function checkCommonSpec(spec: CommonModelSpec, family: string, depth: number): void {
  const problems: string[] = [];
  if (!Number.isInteger(spec.inputSize) || spec.inputSize < 4) problems.push(`inputSize must be an integer >= 4, got ${spec.inputSize}`);
  else if (spec.inputSize % 2 ** depth !== 0) {
    problems.push(`inputSize ${spec.inputSize} must be divisible by 2^depth = ${2 ** depth} (depth ${depth})`);
  }
  if (spec.channels !== 1 && spec.channels !== 3) problems.push(`channels must be 1 or 3, got ${String(spec.channels)}`);
  if (!Number.isFinite(spec.seed)) problems.push(`seed must be a finite number, got ${spec.seed}`);
  if (!RECONSTRUCTION_LOSSES.includes(spec.loss)) {
    problems.push(`loss must be one of ${RECONSTRUCTION_LOSSES.join(', ')}, got '${String(spec.loss)}'`);
  }
  if (problems.length > 0) throw new Error(`invalid ${family} model spec: ${problems.join('; ')}`);
}

export function checkWidths(widths: unknown, family: string): void {
  if (!Array.isArray(widths) || widths.length === 0 || widths.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new Error(`invalid ${family} model spec: widths must be a non-empty array of positive integers, got ${JSON.stringify(widths)}`);
  }
}

/** The reconstruction output in card terms (NCHW, dynamic batch). */
export function reconstructionOutput(spec: CommonModelSpec): OutputSpec {
  return {
    name: 'reconstruction',
    meaning: 'reconstruction',
    shape: ['N', spec.channels, spec.inputSize, spec.inputSize],
    description: 'reconstruction of the input, in the normalized input space',
  };
}

/** Pixel map per loss: an SSIM-trained model is scored with 1 - SSIM, the others with squared error. */
export function residualScore(loss: ReconstructionLoss): ScoreSpec {
  if (loss === 'ssim') {
    return {
      map: { kind: 'ssim', channelReduction: 'mean', smoothingSigma: 0, ssimWindowSize: SSIM_DEFAULTS.windowSize, ssimSigma: SSIM_DEFAULTS.sigma },
      image: { kind: 'mean' },
    };
  }
  return { map: { kind: 'squared', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean' } };
}
