/** Accumulates ONNX nodes and initializers with unique names while layers are converted. */
import { type AttributeSpec, type NodeSpec } from './onnx-model.js';

export interface FloatInitializer {
  kind: 'float';
  name: string;
  dims: number[];
  values: Float32Array;
  /** Stays float32 in an fp16 export (e.g. Resize scales, which ONNX types as float). */
  keepFloat32: boolean;
}

export interface Int64Initializer {
  kind: 'int64';
  name: string;
  dims: number[];
  values: number[];
}

export type Initializer = FloatInitializer | Int64Initializer;

export class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: Initializer[] = [];
  private readonly usedNames = new Set<string>();

  /** Names the caller will use itself (graph inputs/outputs) and that must never be generated. */
  reserve(name: string): void {
    if (this.usedNames.has(name)) throw new Error(`internal error: name '${name}' reserved twice`);
    this.usedNames.add(name);
  }

  unique(base: string): string {
    let name = base;
    for (let i = 1; this.usedNames.has(name); i += 1) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  /** Adds one node with a single output named after `outputBase`; returns the output name. */
  node(opType: string, inputs: string[], attributes: AttributeSpec[], outputBase: string): string {
    const output = this.unique(outputBase);
    this.nodes.push({ name: this.unique(`${outputBase}/${opType}`), opType, input: inputs, output: [output], attribute: attributes });
    return output;
  }

  /** Adds one node with several outputs (e.g. Split), each named after its base; returns their names. */
  nodeOutputs(opType: string, inputs: string[], attributes: AttributeSpec[], outputBases: string[], nodeBase: string): string[] {
    const outputs = outputBases.map((base) => this.unique(base));
    this.nodes.push({ name: this.unique(`${nodeBase}/${opType}`), opType, input: inputs, output: outputs, attribute: attributes });
    return outputs;
  }

  /** Adds a node writing to an exact, already reserved output name. */
  nodeTo(opType: string, inputs: string[], attributes: AttributeSpec[], output: string): void {
    this.nodes.push({ name: this.unique(`${output}/${opType}`), opType, input: inputs, output: [output], attribute: attributes });
  }

  floatConst(base: string, values: Float32Array | number[], dims: number[], keepFloat32 = false): FloatInitializer {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== values.length) throw new Error(`internal error: initializer ${base} has ${values.length} values for dims ${JSON.stringify(dims)}`);
    const init: FloatInitializer = {
      kind: 'float',
      name: this.unique(base),
      dims,
      values: values instanceof Float32Array ? values : Float32Array.from(values),
      keepFloat32,
    };
    this.initializers.push(init);
    return init;
  }

  int64Const(base: string, values: number[], dims: number[] = [values.length]): string {
    const init: Int64Initializer = { kind: 'int64', name: this.unique(base), dims, values };
    this.initializers.push(init);
    return init.name;
  }

  /** Renames a value everywhere it appears (used to give graph outputs their public names). */
  renameValue(from: string, to: string): void {
    for (const node of this.nodes) {
      node.input = node.input.map((n) => (n === from ? to : n));
      node.output = node.output.map((n) => (n === from ? to : n));
    }
  }

  producerOf(value: string): NodeSpec | undefined {
    return this.nodes.find((n) => n.output.includes(value));
  }
}

/** Row-major permutation of a dense array: out dims = perm.map(p => shape[p]). */
export function permute(values: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank);
  let stride = 1;
  for (let d = rank - 1; d >= 0; d -= 1) {
    inStrides[d] = stride;
    stride *= shape[d];
  }
  const permutedStrides = perm.map((p) => inStrides[p]);
  const out = new Float32Array(values.length);
  if (rank === 4) {
    // Kernels are rank 4 and can be large: plain nested loops are ~10x faster than the generic walk.
    const [d0, d1, d2, d3] = outShape;
    const [s0, s1, s2, s3] = permutedStrides;
    let o = 0;
    for (let a = 0; a < d0; a += 1)
      for (let b = 0; b < d1; b += 1)
        for (let c = 0; c < d2; c += 1) {
          const base = a * s0 + b * s1 + c * s2;
          for (let d = 0; d < d3; d += 1) out[o++] = values[base + d * s3];
        }
    return out;
  }
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o += 1) {
    let source = 0;
    for (let d = 0; d < rank; d += 1) source += index[d] * permutedStrides[d];
    out[o] = values[source];
    for (let d = rank - 1; d >= 0; d -= 1) {
      index[d] += 1;
      if (index[d] < outShape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}
