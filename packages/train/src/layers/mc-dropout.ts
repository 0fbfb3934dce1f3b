import * as tf from '@tensorflow/tfjs';
import { createRandom, type SeededRandom } from '../random.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

export interface McDropoutArgs extends LayerArgs {
  rate: number;
  /** Seed of the mask sequence (not serialized). */
  seed?: number;
}

/**
 * Monte-Carlo dropout: active in training and, when `mcEnabled` is set, also at inference, so
 * N stochastic passes give a per-pixel uncertainty. Kept (scaled by 1/(1-rate)) like
 * tf.dropout, which is what the ONNX export's `Mul(x, mask)` reproduces.
 */
export class McDropout extends tf.layers.Layer {
  static className = 'McDropout';
  readonly rate: number;
  /** Inference-time switch; a runtime flag, deliberately not part of the saved config. */
  mcEnabled = false;
  private readonly random: SeededRandom;

  constructor(args: McDropoutArgs) {
    super(args);
    if (!(args.rate >= 0 && args.rate < 1)) {
      throw new Error(`McDropout: rate must be in [0, 1), got ${args.rate}`);
    }
    this.rate = args.rate;
    this.random = createRandom(args.seed ?? 0x5eed);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const training = kwargs['training'] === true;
    if (this.rate === 0 || !(training || this.mcEnabled)) return input.clone();
    return tf.dropout(input, this.rate, undefined, this.random.seed());
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}
tf.serialization.registerClass(McDropout);

/** Switches every McDropout layer of the model on (stochastic inference) or off. Returns how many. */
export function setMcDropout(model: tf.LayersModel, enabled: boolean): number {
  let count = 0;
  for (const layer of model.layers) {
    if (layer instanceof McDropout) {
      layer.mcEnabled = enabled;
      count++;
    }
  }
  return count;
}
