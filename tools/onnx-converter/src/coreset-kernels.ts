/**
 * The two small ONNX graphs the trainer's greedy k-center coreset (PatchCore family) runs in
 * onnxruntime-node, so that its distance work is MLAS MatMul instead of JavaScript loops. They have
 * no weights (every tensor is an input, all sizes dynamic), so their bytes are a constant: the trainer
 * (which must not import the converter) embeds them from scripts/write-coreset-kernels.ts, and a test
 * checks that the embedded copy equals what these builders make.
 */
import { GraphBuilder } from './graph-builder.js';
import { tensorOf } from './convert.js';
import { attr, encodeModel, TensorDataType } from './onnx-model.js';
import { CONVERTER_NAME, CONVERTER_VERSION } from './version.js';

const FLOAT = TensorDataType.FLOAT;

/**
 * One greedy k-center step: inputs `points` [N, D], `norms` [N] (squared norms of the points),
 * `min_distances` [N] (squared distance of each point to the centers chosen so far) and `center` [D]
 * (the newly chosen center); outputs `min_distances_out` [N] = min(min_distances, ||points - center||^2)
 * and `farthest` (int64 scalar, the first index of the largest of them: the next center).
 */
export function buildKCenterStepModel(): Uint8Array {
  const builder = new GraphBuilder();
  for (const name of ['points', 'norms', 'min_distances', 'center', 'min_distances_out', 'farthest']) builder.reserve(name);
  const two = builder.floatConst('two', [2], []);
  const dots = builder.node('MatMul', ['points', 'center'], [], 'dots');
  const centerNorm = builder.node('ReduceSumSquare', ['center'], [attr.int('keepdims', 0)], 'center_norm');
  const partial = builder.node('Sub', ['norms', builder.node('Mul', [dots, two.name], [], 'dots_x2')], [], 'partial');
  const distances = builder.node('Add', [partial, centerNorm], [], 'distances');
  builder.nodeTo('Min', ['min_distances', distances], [], 'min_distances_out');
  builder.nodeTo('ArgMax', ['min_distances_out'], [attr.int('axis', 0), attr.int('keepdims', 0)], 'farthest');
  return encodeModel({
    graph: {
      name: 'kcenter_step',
      nodes: builder.nodes,
      initializers: builder.initializers.map((init) => tensorOf(init, false)),
      inputs: [
        { name: 'points', elemType: FLOAT, shape: ['N', 'D'] },
        { name: 'norms', elemType: FLOAT, shape: ['N'] },
        { name: 'min_distances', elemType: FLOAT, shape: ['N'] },
        { name: 'center', elemType: FLOAT, shape: ['D'] },
      ],
      outputs: [
        { name: 'min_distances_out', elemType: FLOAT, shape: ['N'] },
        { name: 'farthest', elemType: TensorDataType.INT64, shape: [] },
      ],
    },
    producerName: CONVERTER_NAME,
    producerVersion: CONVERTER_VERSION,
    docString: 'greedy k-center step (coreset selection)',
    metadata: {},
  });
}

/** `projected` [N, K] = `features` [N, D] x `projection` [D, K] (random projection of patch features). */
export function buildProjectionModel(): Uint8Array {
  const builder = new GraphBuilder();
  for (const name of ['features', 'projection', 'projected']) builder.reserve(name);
  builder.nodeTo('MatMul', ['features', 'projection'], [], 'projected');
  return encodeModel({
    graph: {
      name: 'projection',
      nodes: builder.nodes,
      initializers: [],
      inputs: [
        { name: 'features', elemType: FLOAT, shape: ['N', 'D'] },
        { name: 'projection', elemType: FLOAT, shape: ['D', 'K'] },
      ],
      outputs: [{ name: 'projected', elemType: FLOAT, shape: ['N', 'K'] }],
    },
    producerName: CONVERTER_NAME,
    producerVersion: CONVERTER_VERSION,
    docString: 'random projection of patch features (coreset selection)',
    metadata: {},
  });
}
