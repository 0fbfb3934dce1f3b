/**
 * One ONNX file from two: a backbone (input `input` -> feature maps) and a head converted from a
 * multi-input TF.js model whose inputs are named after those feature maps (e.g. a DFR head taking
 * `layer1`, `layer2`, `layer3`). The head's inputs are bound to the backbone outputs of the same
 * names; the result has the backbone's input, the head's outputs and the given metadata (the card),
 * so runtimes see one ordinary model.
 */
import protobuf from 'protobufjs';
import { type ModelCard, modelCardToMetadata, validateModelCard } from '@residuum/scoring';
import { ConversionError } from './errors.js';
import { type Float16StorageReport, storeInitializersAsFloat16, type StoredGraph } from './fp16-storage.js';
import { onnxProtoDescriptor } from './proto/onnx-descriptor.js';
import { CONVERTER_NAME, CONVERTER_VERSION } from './version.js';

/* The decoded protobuf messages, typed as far as splicing needs them. */
interface Dim {
  dimValue?: number | { toNumber(): number };
  dimParam?: string;
}
interface ValueInfo {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: Dim[] } } };
}
interface Node {
  name: string;
  input: string[];
  output: string[];
}
interface Graph {
  name: string;
  node: Node[];
  initializer: Array<{ name: string }>;
  input: ValueInfo[];
  output: ValueInfo[];
  valueInfo: ValueInfo[];
}
interface Model {
  irVersion: number | { toNumber(): number };
  opsetImport: Array<{ domain?: string; version: number | { toNumber(): number } }>;
  producerName: string;
  producerVersion: string;
  docString: string;
  graph: Graph;
  metadataProps: Array<{ key: string; value: string }>;
}

let modelType: protobuf.Type | undefined;
function modelProto(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(onnxProtoDescriptor).lookupType('onnx.ModelProto');
  return modelType;
}

const num = (value: number | { toNumber(): number } | undefined): number | undefined => (value === undefined ? undefined : typeof value === 'number' ? value : value.toNumber());

function decode(bytes: Uint8Array, what: string): Model {
  let model: Model;
  try {
    model = modelProto().decode(bytes) as unknown as Model;
  } catch (error) {
    throw new ConversionError(`${what} is not an ONNX model: ${(error as Error).message}`);
  }
  if (!model.graph || model.graph.node.length === 0) throw new ConversionError(`${what} has no graph`);
  return model;
}

function describeType(info: ValueInfo): string {
  const tensor = info.type?.tensorType;
  const dims = (tensor?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : String(num(d.dimValue))));
  return `${String(tensor?.elemType)}[${dims.join(',')}]`;
}

function defaultOpset(model: Model): number | undefined {
  return num(model.opsetImport.find((o) => !o.domain)?.version);
}

export interface SpliceOptions {
  backbone: Uint8Array;
  head: Uint8Array;
  /** The card of the combined model (its input must be the backbone's, its outputs the head's). */
  card?: ModelCard;
  /** Store the large float32 initializers as float16, cast back to float32 in the graph (fp16-storage.ts). */
  fp16Storage?: boolean;
  /** With fp16Storage: smaller float initializers stay float32 (default: Float16StorageOptions.minElements). */
  fp16MinElements?: number;
}

export interface SpliceResult {
  onnx: Uint8Array;
  /** Node and initializer counts of the combined graph. */
  nodes: number;
  initializers: number;
  /** With fp16Storage: what was stored as float16. */
  fp16Storage?: Float16StorageReport;
}

export function spliceOnnxModels(options: SpliceOptions): SpliceResult {
  const backbone = decode(options.backbone, 'backbone');
  const head = decode(options.head, 'head');
  if (defaultOpset(backbone) !== defaultOpset(head) || num(backbone.irVersion) !== num(head.irVersion)) {
    throw new ConversionError(
      `backbone (IR ${num(backbone.irVersion)}, opset ${defaultOpset(backbone)}) and head (IR ${num(head.irVersion)}, opset ${defaultOpset(head)}) differ; convert both with the same converter`,
    );
  }
  const bGraph = backbone.graph;
  const hGraph = head.graph;
  const backboneOutputs = new Map(bGraph.output.map((o) => [o.name, o]));
  for (const input of hGraph.input) {
    const source = backboneOutputs.get(input.name);
    if (!source) throw new ConversionError(`head input '${input.name}' is not a backbone output (backbone outputs: ${[...backboneOutputs.keys()].join(', ')})`);
    if (describeType(source) !== describeType(input)) {
      throw new ConversionError(`head input '${input.name}' is ${describeType(input)} but the backbone output is ${describeType(source)}`);
    }
  }
  // Every name the backbone defines; the head's own names that collide get a prefix.
  const taken = new Set<string>([...bGraph.input.map((i) => i.name), ...bGraph.initializer.map((i) => i.name), ...bGraph.node.flatMap((n) => [...n.output, n.name])]);
  const bound = new Set(hGraph.input.map((i) => i.name));
  const renames = new Map<string, string>();
  const rename = (name: string): string => {
    if (name === '' || bound.has(name)) return name;
    const known = renames.get(name);
    if (known !== undefined) return known;
    let fresh = name;
    for (let k = 0; taken.has(fresh); k++) fresh = `head${k === 0 ? '' : k}/${name}`;
    taken.add(fresh);
    renames.set(name, fresh);
    return fresh;
  };
  for (const output of hGraph.output) {
    if (taken.has(output.name)) throw new ConversionError(`head output '${output.name}' is also a name in the backbone; rename the head's output`);
  }
  hGraph.initializer.forEach((init) => (init.name = rename(init.name)));
  hGraph.node.forEach((node) => {
    node.name = rename(node.name);
    node.input = node.input.map(rename);
    node.output = node.output.map(rename);
  });
  hGraph.output.forEach((o) => (o.name = rename(o.name)));
  hGraph.valueInfo.forEach((v) => (v.name = rename(v.name)));

  let metadata = head.metadataProps;
  if (options.card) {
    const card = validateModelCard(options.card);
    const inputShape = describeType(bGraph.input[0]);
    if (bGraph.input.length !== 1 || card.input.name !== bGraph.input[0].name || `1[${card.input.shape.join(',')}]` !== inputShape) {
      throw new ConversionError(`card input ${card.input.name} [${card.input.shape.join(', ')}] does not match the backbone input ${bGraph.input[0].name} ${inputShape}`);
    }
    const outputs = hGraph.output.map((o) => o.name);
    if (JSON.stringify(card.outputs.map((o) => o.name)) !== JSON.stringify(outputs)) {
      throw new ConversionError(`card outputs ${card.outputs.map((o) => o.name).join(', ')} are not the head outputs ${outputs.join(', ')}`);
    }
    card.producer = { ...card.producer, converter: `${CONVERTER_NAME}@${CONVERTER_VERSION}${options.fp16Storage ? ' (fp16 storage)' : ''}` };
    metadata = Object.entries(modelCardToMetadata(card)).map(([key, value]) => ({ key, value }));
  }
  const nodes = [...bGraph.node, ...hGraph.node];
  const initializers = [...bGraph.initializer, ...hGraph.initializer];
  const fp16Storage = options.fp16Storage ? storeInitializersAsFloat16({ node: nodes, initializer: initializers } as unknown as StoredGraph, { minElements: options.fp16MinElements }) : undefined;
  const type = modelProto();
  const spliced = type.fromObject({
    irVersion: backbone.irVersion,
    opsetImport: backbone.opsetImport,
    producerName: CONVERTER_NAME,
    producerVersion: CONVERTER_VERSION,
    docString: `${backbone.docString} + ${head.docString}`,
    graph: {
      name: `${bGraph.name}+${hGraph.name}`,
      node: nodes,
      initializer: initializers,
      input: bGraph.input,
      output: hGraph.output,
      valueInfo: [...bGraph.valueInfo, ...hGraph.valueInfo],
    },
    metadataProps: metadata,
  });
  return {
    onnx: new Uint8Array(type.encode(spliced).finish()),
    nodes: nodes.length,
    initializers: initializers.length,
    ...(fp16Storage ? { fp16Storage } : {}),
  };
}
