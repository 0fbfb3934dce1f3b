/**
 * The subset of the ONNX ModelProto this converter writes, as plain objects with the
 * camelCase field names protobufjs uses, and the encoder that turns them into bytes.
 */
import protobuf from 'protobufjs';
import { onnxProtoDescriptor } from './proto/onnx-descriptor.js';

/** IR version 8 with opset 17: the newest pair Debian's onnx 1.12 checker can validate, run by onnxruntime 1.30 (node, web WASM and WebGPU). */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET_VERSION = 17;

export const TensorDataType = { FLOAT: 1, INT64: 7, FLOAT16: 10 } as const;
export type TensorDataTypeCode = (typeof TensorDataType)[keyof typeof TensorDataType];

export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

export interface AttributeSpec {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface NodeSpec {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attribute: AttributeSpec[];
}

export interface TensorSpec {
  name: string;
  dims: number[];
  dataType: TensorDataTypeCode;
  rawData: Uint8Array;
}

export type Dim = number | string;

export interface ValueInfoSpec {
  name: string;
  elemType: TensorDataTypeCode;
  shape: Dim[];
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueInfoSpec[];
  outputs: ValueInfoSpec[];
}

export interface ModelSpec {
  graph: GraphSpec;
  producerName: string;
  producerVersion: string;
  docString?: string;
  metadata: Record<string, string>;
}

export const attr = {
  int: (name: string, value: number): AttributeSpec => ({ name, type: AttributeType.INT, i: value }),
  float: (name: string, value: number): AttributeSpec => ({ name, type: AttributeType.FLOAT, f: value }),
  ints: (name: string, values: number[]): AttributeSpec => ({ name, type: AttributeType.INTS, ints: values }),
  string: (name: string, value: string): AttributeSpec => ({
    name,
    type: AttributeType.STRING,
    s: new TextEncoder().encode(value),
  }),
};

let modelProtoType: protobuf.Type | undefined;

function modelProto(): protobuf.Type {
  modelProtoType ??= protobuf.Root.fromJSON(onnxProtoDescriptor).lookupType('onnx.ModelProto');
  return modelProtoType;
}

function valueInfoObject(info: ValueInfoSpec): object {
  return {
    name: info.name,
    type: {
      tensorType: {
        elemType: info.elemType,
        shape: { dim: info.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Serializes a model to ONNX protobuf bytes. */
export function encodeModel(model: ModelSpec): Uint8Array {
  const type = modelProto();
  const { graph } = model;
  const object = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET_VERSION }],
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    docString: model.docString ?? '',
    graph: {
      name: graph.name,
      node: graph.nodes,
      initializer: graph.initializers,
      input: graph.inputs.map(valueInfoObject),
      output: graph.outputs.map(valueInfoObject),
    },
    metadataProps: Object.entries(model.metadata).map(([key, value]) => ({ key, value })),
  };
  const problem = type.verify(object);
  if (problem) throw new Error(`internal error: ONNX model object does not match onnx.proto: ${problem}`);
  // protobufjs returns a Node Buffer (possibly a slice of a shared pool) in Node: hand out a plain copy.
  return new Uint8Array(type.encode(type.fromObject(object)).finish());
}

/** Decodes ONNX bytes into a plain object (tests and tooling; not a validating reader). */
export function decodeModelObject(bytes: Uint8Array): Record<string, unknown> {
  const type = modelProto();
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}

const MODEL_METADATA_FIELD = 14; // ModelProto.metadata_props
const WIRE_LENGTH_DELIMITED = 2;

/**
 * The same ONNX model with its metadata_props entries under `prefix` replaced by `entries`:
 * every other field (the graph, opsets, other metadata) is copied byte for byte, so the weights
 * and the graph cannot change. Used to rewrite an embedded model card (`residuum calibrate`).
 */
export function replaceMetadata(bytes: Uint8Array, entries: Record<string, string>, prefix: string): Uint8Array {
  const entryType = modelProto().lookupType('onnx.StringStringEntryProto');
  const reader = protobuf.Reader.create(bytes);
  const kept: Uint8Array[] = [];
  let sawGraph = false;
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    const bodyStart = reader.pos;
    reader.skipType(wireType);
    if (field === 7) sawGraph = true;
    if (field === MODEL_METADATA_FIELD && wireType === WIRE_LENGTH_DELIMITED) {
      const body = protobuf.Reader.create(bytes.subarray(bodyStart, reader.pos));
      const length = body.uint32();
      const entry = entryType.toObject(entryType.decode(body, length)) as { key?: string };
      if (entry.key?.startsWith(prefix)) continue;
    }
    kept.push(bytes.subarray(start, reader.pos));
  }
  if (!sawGraph) throw new Error('not an ONNX model: no graph (ModelProto field 7)');
  const writer = protobuf.Writer.create();
  for (const [key, value] of Object.entries(entries)) {
    if (!key.startsWith(prefix)) throw new Error(`metadata key ${key} does not start with ${prefix}`);
    writer.uint32((MODEL_METADATA_FIELD << 3) | WIRE_LENGTH_DELIMITED).fork().uint32((1 << 3) | 2).string(key).uint32((2 << 3) | 2).string(value).ldelim();
  }
  const appended = writer.finish();
  const total = kept.reduce((n, part) => n + part.length, 0) + appended.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of [...kept, appended]) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
