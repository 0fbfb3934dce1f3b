/**
 * The ONNX graph the trainer's greedy k-center coreset (PatchCore family) runs in onnxruntime-node for
 * its large product, the random projection of every patch feature (MLAS MatMul instead of a JavaScript
 * triple loop). It has no weights (every tensor is an input, all sizes dynamic), so its bytes are a
 * constant: the trainer (which must not import the converter) embeds them from
 * scripts/write-coreset-kernels.ts, and a test checks that the embedded copy equals what this builds.
 * (A per-step k-center graph was measured 3x slower than the trainer's plain loop: ort copies the
 * inputs on every run, so the steps stay in JavaScript.)
 */
import { GraphBuilder } from './graph-builder.js';
import { encodeModel, TensorDataType } from './onnx-model.js';
import { CONVERTER_NAME, CONVERTER_VERSION } from './version.js';

const FLOAT = TensorDataType.FLOAT;

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
