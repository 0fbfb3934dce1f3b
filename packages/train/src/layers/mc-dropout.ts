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
  /**
   * A fixed mask (NHWC, broadcast over the batch) to multiply by instead of drawing one: the
   * calibration replays the exact masks the runtimes feed to the graph's mc_mask inputs.
   */
  suppliedMask: tf.Tensor | null = null;
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
    if (this.suppliedMask) return tf.mul(input, this.suppliedMask);
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

/** One mask per McDropout layer as the exported graph's mc_mask_<k> input takes it: [1, C, H, W]. */
export interface NchwMask {
  data: Float32Array;
  dims: readonly number[];
  rate: number;
}

/**
 * Makes the model's McDropout layers multiply by `masks` (mask k to the k-th McDropout layer in
 * topological order, as the converter numbers mc_mask_<k>), transposed to the layers' NHWC, or
 * back to normal with null. Checks each mask against its layer's shape and rate. Returns the
 * tensors to dispose once the pass has run.
 */
export function supplyMcDropoutMasks(model: tf.LayersModel, masks: readonly NchwMask[] | null): tf.Tensor[] {
  const layers = model.layers.filter((layer): layer is McDropout => layer instanceof McDropout);
  if (masks === null) {
    for (const layer of layers) layer.suppliedMask = null;
    return [];
  }
  if (masks.length !== layers.length) throw new Error(`the model has ${layers.length} McDropout layers, ${masks.length} masks were given`);
  return layers.map((layer, k) => {
    const mask = masks[k];
    const [height, width, channels] = (layer.outputShape as Array<number | null>).slice(1);
    const expected = [1, channels, height, width];
    if (JSON.stringify(expected) !== JSON.stringify(mask.dims) || mask.rate !== layer.rate) {
      throw new Error(
        `MC-Dropout mask ${k} (dims [${mask.dims.join(', ')}], rate ${mask.rate}) does not fit layer '${layer.name}' ([${expected.join(', ')}], rate ${layer.rate})`,
      );
    }
    const nhwc = tf.tidy(() => tf.transpose(tf.tensor4d(mask.data, expected as [number, number, number, number]), [0, 2, 3, 1]));
    layer.suppliedMask = nhwc;
    return nhwc;
  });
}
