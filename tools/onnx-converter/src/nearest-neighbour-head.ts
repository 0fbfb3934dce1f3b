/**
 * In-graph nearest-neighbour search over a memory bank (the PatchCore family's scoring): for every
 * patch feature f of a [N, D, h, w] feature map, the squared distance to its nearest bank entry,
 * min_k ||f - m_k||^2 = ||f||^2 + min_k (||m_k||^2 - 2 f . m_k), as a [N, 1, h, w] map.
 *
 * The bank is an initializer, stored transposed and pre-scaled by -2 (exact in float) so that each
 * chunk costs one MatMul, one Add and one ReduceMin; chunks of `chunkSize` entries bound the
 * [patches, chunk] distance matrix that onnxruntime holds at once (784 patches x 4096 entries = 12.8 MB
 * per image at 28x28). ||f||^2 is added after the minimum (it does not depend on k), and the result
 * is clamped at 0 (the expansion can round slightly below 0 for a patch equal to an entry).
 * The expansion loses precision when distances are tiny against the norms: absolute errors are about
 * 1e-7 x (||f||^2 + ||m||^2), what torch.cdist's matmul path (PatchCore's reference code) accepts too.
 *
 * The entry norms ||m_k||^2 are computed in the graph from the bank initializer itself (ReduceSumSquare
 * of -2 m, times 1/4, both exact scalings; onnxruntime folds it when it loads the model), not stored:
 * so they are always the norms of the entries the MatMul uses. That matters for fp16 storage
 * (fp16-storage.ts), where the entries are rounded to float16: norms of the unrounded entries would
 * leave ||m||^2 - ||m~||^2 (about 2^-11 of ||m||^2) in every distance, which measured 2.6 % of the image
 * score on the dashboard's PatchCore fixture against 0.06 % with norms of the rounded entries.
 */
import { GraphBuilder } from './graph-builder.js';
import { tensorOf } from './convert.js';
import { attr, encodeModel, TensorDataType } from './onnx-model.js';
import { CONVERTER_NAME, CONVERTER_VERSION } from './version.js';

/** Bank entries per MatMul / ReduceMin chunk by default. */
export const NEAREST_NEIGHBOUR_CHUNK = 4096;

/** A memory bank: `size` entries of `dim` float32 values, row-major. */
export interface MemoryBank {
  values: Float32Array;
  size: number;
  dim: number;
}

export interface NearestNeighbourHeadOptions {
  /** Bank entries per chunk (default NEAREST_NEIGHBOUR_CHUNK). */
  chunkSize?: number;
  /** Base name of the head's nodes and initializers (default 'memory_bank'). */
  name?: string;
}

function checkBank(bank: MemoryBank): void {
  const { values, size, dim } = bank;
  if (!(values instanceof Float32Array)) throw new TypeError('memory bank: values must be a Float32Array');
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`memory bank: size must be a positive integer, got ${String(size)}`);
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`memory bank: dim must be a positive integer, got ${String(dim)}`);
  if (values.length !== size * dim) throw new RangeError(`memory bank: ${values.length} values for ${size} entries of ${dim}`);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new RangeError(`memory bank: entry ${Math.floor(i / dim)} holds ${values[i]}`);
  }
}

/**
 * Appends the head to `builder`: `features` is a [N, dim, height, width] value of the graph; returns
 * the name of the [N, 1, height, width] map of squared nearest-neighbour distances.
 */
export function appendNearestNeighbourHead(
  builder: GraphBuilder,
  features: string,
  grid: { height: number; width: number },
  bank: MemoryBank,
  options: NearestNeighbourHeadOptions = {},
): string {
  checkBank(bank);
  const chunkSize = options.chunkSize ?? NEAREST_NEIGHBOUR_CHUNK;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${String(chunkSize)}`);
  const name = options.name ?? 'memory_bank';
  const { size, dim, values } = bank;

  const nhwc = builder.node('Transpose', [features], [attr.ints('perm', [0, 2, 3, 1])], `${name}/patches_nhwc`);
  const patches = builder.node('Reshape', [nhwc, builder.int64Const(`${name}/patch_shape`, [-1, dim])], [], `${name}/patches`);
  const patchNorms = builder.node('ReduceSumSquare', [patches], [attr.ints('axes', [1]), attr.int('keepdims', 1)], `${name}/patch_norms`);

  const chunkMinima: string[] = [];
  for (let start = 0; start < size; start += chunkSize) {
    const count = Math.min(chunkSize, size - start);
    const scaledTransposed = new Float32Array(dim * count);
    for (let k = 0; k < count; k++) {
      for (let d = 0; d < dim; d++) scaledTransposed[d * count + k] = -2 * values[(start + k) * dim + d];
    }
    const bankT = builder.floatConst(`${name}/entries_t_x_minus2`, scaledTransposed, [dim, count]);
    // ||-2 m||^2 / 4 = ||m||^2, [1, count].
    const scaledNorms = builder.node('ReduceSumSquare', [bankT.name], [attr.ints('axes', [0]), attr.int('keepdims', 1)], `${name}/entry_norms_x4`);
    const bankNorms = builder.node('Mul', [scaledNorms, builder.floatConst(`${name}/quarter`, [0.25], [1], true).name], [], `${name}/entry_norms`);
    const products = builder.node('MatMul', [patches, bankT.name], [], `${name}/products`);
    const partial = builder.node('Add', [products, bankNorms], [], `${name}/partial_distances`);
    chunkMinima.push(builder.node('ReduceMin', [partial], [attr.ints('axes', [1]), attr.int('keepdims', 1)], `${name}/chunk_min`));
  }
  const nearest = chunkMinima.length === 1 ? chunkMinima[0] : builder.node('Min', chunkMinima, [], `${name}/min`);
  const squared = builder.node('Relu', [builder.node('Add', [nearest, patchNorms], [], `${name}/squared_distances`)], [], `${name}/clamped`);
  return builder.node('Reshape', [squared, builder.int64Const(`${name}/map_shape`, [-1, 1, grid.height, grid.width])], [], `${name}/distance_map`);
}

/**
 * A standalone model: input `features` [N, dim, height, width] -> output `distance_map` [N, 1, height, width]
 * (squared distance of each patch to its nearest bank entry).
 */
export function buildNearestNeighbourModel(bank: MemoryBank, grid: { height: number; width: number }, options: NearestNeighbourHeadOptions = {}): Uint8Array {
  const builder = new GraphBuilder();
  builder.reserve('features');
  builder.reserve('distance_map');
  const map = appendNearestNeighbourHead(builder, 'features', grid, bank, options);
  builder.renameValue(map, 'distance_map');
  return encodeModel({
    graph: {
      name: 'nearest_neighbour',
      nodes: builder.nodes,
      initializers: builder.initializers.map((init) => tensorOf(init, false)),
      inputs: [{ name: 'features', elemType: TensorDataType.FLOAT, shape: ['N', bank.dim, grid.height, grid.width] }],
      outputs: [{ name: 'distance_map', elemType: TensorDataType.FLOAT, shape: ['N', 1, grid.height, grid.width] }],
    },
    producerName: CONVERTER_NAME,
    producerVersion: CONVERTER_VERSION,
    docString: `nearest-neighbour distances to a ${bank.size} x ${bank.dim} memory bank`,
    metadata: {},
  });
}
