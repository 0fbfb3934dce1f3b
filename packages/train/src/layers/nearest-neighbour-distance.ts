import * as tf from '@tensorflow/tfjs';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

export interface NearestNeighbourDistanceArgs extends LayerArgs {
  /** Entries of the memory bank (its width is the input's channel count). */
  bankSize: number;
  /** Bank entries per distance block (bounds the [patches, chunk] matrix held at once; default 4096). */
  chunkSize?: number;
}

/** Bank entries per block by default: the converter's NEAREST_NEIGHBOUR_CHUNK (train cannot import the converter). */
const DEFAULT_CHUNK = 4096;

/**
 * PatchCore's scoring as a layer: for every patch feature f of an NHWC feature map, the Euclidean
 * distance to its nearest memory-bank entry, sqrt(max(0, ||f||^2 + min_k (||m_k||^2 - 2 f.m_k))),
 * as an [N, h, w, 1] map. The bank is a non-trainable weight ([bankSize, channels]), so the run
 * folder keeps it in weights.bin like any other weight; the ONNX converter maps this class to its
 * nearest-neighbour head (MatMul + ReduceMin over bank chunks, then Sqrt), the same expansion.
 */
export class NearestNeighbourDistance extends tf.layers.Layer {
  static className = 'NearestNeighbourDistance';
  readonly bankSize: number;
  readonly chunkSize: number;
  private bank: tf.LayerVariable | null = null;

  constructor(args: NearestNeighbourDistanceArgs) {
    super({ ...args, trainable: false });
    if (!Number.isInteger(args.bankSize) || args.bankSize < 1) throw new Error(`NearestNeighbourDistance: bankSize must be a positive integer, got ${String(args.bankSize)}`);
    const chunkSize = args.chunkSize ?? DEFAULT_CHUNK;
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`NearestNeighbourDistance: chunkSize must be a positive integer, got ${String(chunkSize)}`);
    this.bankSize = args.bankSize;
    this.chunkSize = chunkSize;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1];
    if (shape.length !== 4 || channels == null) throw new Error(`NearestNeighbourDistance expects NHWC input with known channels, got shape [${shape.join(', ')}]`);
    this.bank = this.addWeight('bank', [this.bankSize, channels], 'float32', tf.initializers.zeros(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0], shape[1], shape[2], 1];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const input = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      if (this.bank == null) throw new Error('NearestNeighbourDistance called before build');
      const [n, h, w, channels] = input.shape;
      const patches = tf.reshape(input, [n * h * w, channels]);
      const bank = this.bank.read() as tf.Tensor2D;
      let nearest: tf.Tensor | undefined;
      for (let start = 0; start < this.bankSize; start += this.chunkSize) {
        const count = Math.min(this.chunkSize, this.bankSize - start);
        const entries = tf.slice(bank, [start, 0], [count, channels]);
        const partial = tf.add(tf.mul(tf.matMul(patches, entries, false, true), -2), tf.reshape(tf.sum(tf.square(entries), 1), [1, count]));
        const chunkMin = tf.min(partial, 1);
        nearest = nearest === undefined ? chunkMin : tf.minimum(nearest, chunkMin);
      }
      const squared = tf.relu(tf.add(nearest as tf.Tensor, tf.sum(tf.square(patches), 1)));
      return tf.reshape(tf.sqrt(squared), [n, h, w, 1]);
    });
  }

  /** The bank, [bankSize, channels], row-major. */
  setBank(values: Float32Array): void {
    if (this.bank == null) throw new Error('NearestNeighbourDistance: apply the layer (build it) before setting its bank');
    const [size, channels] = this.bank.shape as [number, number];
    if (values.length !== size * channels) throw new Error(`NearestNeighbourDistance: ${values.length} values for a ${size} x ${channels} bank`);
    this.setWeights([tf.tensor2d(values, [size, channels])]);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), bankSize: this.bankSize, chunkSize: this.chunkSize };
  }
}
tf.serialization.registerClass(NearestNeighbourDistance);
