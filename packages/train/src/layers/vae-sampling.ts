import * as tf from '@tensorflow/tfjs';
import { createRandom, type SeededRandom } from '../random.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

export interface VaeSamplingArgs extends LayerArgs {
  /** Seed of the noise sequence (not serialized). */
  seed?: number;
}

/**
 * Reparameterization z = mean + exp(logVar / 2) * eps in training; the mean at inference
 * (and in ONNX), so the anomaly score is deterministic: the reconstruction of the mean.
 */
export class VaeSampling extends tf.layers.Layer {
  static className = 'VaeSampling';
  private readonly random: SeededRandom;

  constructor(args: VaeSamplingArgs = {}) {
    super(args);
    this.random = createRandom(args.seed ?? 0xfae);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    if (!Array.isArray(inputShape[0]) || inputShape.length !== 2) {
      throw new Error('VaeSampling expects two inputs: [mean, logVar]');
    }
    return inputShape[0] as tf.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2) {
      throw new Error('VaeSampling expects two inputs: [mean, logVar]');
    }
    const [mean, logVar] = inputs;
    if (kwargs['training'] !== true) return mean.clone();
    return tf.tidy(() => {
      const eps = tf.randomNormal(mean.shape, 0, 1, 'float32', this.random.seed());
      return tf.add(mean, tf.mul(tf.exp(tf.mul(logVar, 0.5)), eps));
    });
  }
}
tf.serialization.registerClass(VaeSampling);
