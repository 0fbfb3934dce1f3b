import * as tf from '@tensorflow/tfjs';
import { NEIGHBOR_OFFSETS } from '@residuum/scoring';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

export type NeighborActivation = 'linear' | 'relu' | 'sigmoid' | 'tanh';

export interface NeighborConv2DArgs extends LayerArgs {
  units: number;
  activation?: NeighborActivation;
  useBias?: boolean;
  /** Seed of the kernel initializer (not serialized: loaded models get their weights from the file). */
  seed?: number;
}

export { NEIGHBOR_OFFSETS };

/** Window tap (row-major over 3x3) of each kernel row. */
const KERNEL_ROW_TAPS = NEIGHBOR_OFFSETS.map(([dy, dx]) => (1 + dy) * 3 + (1 + dx));
// call() builds the filter as kernel rows 0..3, a zero centre, rows 4..7 (slices and a concat: the
// gradient of a gather is not a wasm kernel); that is the shared order only while it is row-major.
if (KERNEL_ROW_TAPS.some((tap, row) => tap !== (row < 4 ? row : row + 1))) {
  throw new Error(`NeighborConv2D: NEIGHBOR_OFFSETS ${JSON.stringify(NEIGHBOR_OFFSETS)} is not row-major with the centre skipped`);
}

/**
 * NCAE's neighbour convolution: each output pixel is a 1x1 convolution (+ bias, activation)
 * of the channel-wise concatenation of its 8 neighbours, never of itself. Computed as one 3x3
 * conv2d whose centre tap is a constant zero, assembled from the [8, C_in, units] weight, so
 * the cost is one convolution rather than 8 shifted copies.
 */
export class NeighborConv2D extends tf.layers.Layer {
  static className = 'NeighborConv2D';
  readonly units: number;
  readonly activation: NeighborActivation;
  readonly useBias: boolean;
  private readonly seed: number | undefined;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: NeighborConv2DArgs) {
    super(args);
    if (!Number.isInteger(args.units) || args.units < 1) {
      throw new Error(`NeighborConv2D: units must be a positive integer, got ${args.units}`);
    }
    const activation = args.activation ?? 'linear';
    if (!['linear', 'relu', 'sigmoid', 'tanh'].includes(activation)) {
      throw new Error(`NeighborConv2D: unsupported activation '${activation}' (linear, relu, sigmoid, tanh)`);
    }
    this.units = args.units;
    this.activation = activation;
    this.useBias = args.useBias ?? true;
    this.seed = args.seed;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channelsIn = shape[shape.length - 1];
    if (shape.length !== 4 || channelsIn == null) {
      throw new Error(`NeighborConv2D expects NHWC input with known channels, got shape [${shape.join(', ')}]`);
    }
    this.kernel = this.addWeight(
      'kernel',
      [8, channelsIn, this.units],
      'float32',
      tf.initializers.glorotUniform({ seed: this.seed }),
    );
    if (this.useBias) {
      this.bias = this.addWeight('bias', [this.units], 'float32', tf.initializers.zeros());
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0], shape[1], shape[2], this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const input = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      if (this.kernel == null) throw new Error('NeighborConv2D called before build');
      const kernel = this.kernel.read() as tf.Tensor3D;
      const channelsIn = kernel.shape[1];
      const centre = tf.zeros([1, channelsIn, this.units]);
      const taps = tf.concat([kernel.slice([0, 0, 0], [4, -1, -1]), centre, kernel.slice([4, 0, 0], [4, -1, -1])], 0);
      const filter = taps.reshape([3, 3, channelsIn, this.units]) as tf.Tensor4D;
      let output: tf.Tensor = tf.conv2d(input, filter, 1, 'same');
      if (this.bias != null) output = tf.add(output, this.bias.read());
      switch (this.activation) {
        case 'relu':
          return tf.relu(output);
        case 'sigmoid':
          return tf.sigmoid(output);
        case 'tanh':
          return tf.tanh(output);
        default:
          return output;
      }
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, activation: this.activation, useBias: this.useBias };
  }
}
tf.serialization.registerClass(NeighborConv2D);
