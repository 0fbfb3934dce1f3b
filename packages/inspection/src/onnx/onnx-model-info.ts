/**
 * Reads what a runtime needs to check an ONNX file against its model card, straight from
 * the ModelProto bytes (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto): versions,
 * producer, the graph's inputs/outputs with their dims, and metadata_props. Node and
 * initializer payloads are skipped, so this is cheap even for large models.
 */
import { ProtobufReader, WireFormatError, WireType } from './protobuf-reader.js';

export type OnnxFileProblem = 'unreadable' | 'empty' | 'truncated' | 'not-onnx' | 'missing-graph';

/** The bytes given as a model are not a usable ONNX file. */
export class OnnxFileError extends Error {
  constructor(
    readonly problem: OnnxFileProblem,
    message: string,
  ) {
    super(message);
    this.name = 'OnnxFileError';
  }
}

/** One graph input or output. A dim is a number, a symbolic name (e.g. 'N') or null (unknown). */
export interface OnnxValueInfo {
  name: string;
  /** TensorProto.DataType (1 = float32); null when the value is not a tensor or untyped. */
  elementType: number | null;
  /** null when the shape itself is absent (rank unknown). */
  dims: Array<number | string | null> | null;
}

export interface OnnxModelInfo {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsets: Array<{ domain: string; version: number }>;
  graphName: string;
  /** Graph inputs that are not initializers: what a caller must feed. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  metadata: Record<string, string>;
}

// Field numbers from onnx.proto.
const Model = { irVersion: 1, producerName: 2, producerVersion: 3, graph: 7, opsetImport: 8, metadataProps: 14 };
const Graph = { name: 2, initializer: 5, input: 11, output: 12 };
const ValueInfo = { name: 1, type: 2 };
const TypeProto = { tensorType: 1 };
const TensorTypeProto = { elemType: 1, shape: 2 };
const Shape = { dim: 1 };
const Dimension = { value: 1, param: 2 };
const StringEntry = { key: 1, value: 2 };
const OperatorSet = { domain: 1, version: 2 };
const TensorProto = { name: 8 };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];
const IR_VERSION_TAG = (Model.irVersion << 3) | WireType.varint;

/**
 * Parses the ModelProto header fields and graph signature. Throws OnnxFileError for empty,
 * truncated or non-ONNX bytes and for a model without a graph.
 */
export function readOnnxModelInfo(bytes: Uint8Array): OnnxModelInfo {
  if (!(bytes instanceof Uint8Array)) {
    throw new OnnxFileError('not-onnx', 'not an ONNX file: expected the file contents as bytes (Uint8Array)');
  }
  if (bytes.length === 0) throw new OnnxFileError('empty', 'not an ONNX file: the file is empty (0 bytes)');
  const recognised = recogniseOtherFormat(bytes);
  if (recognised) {
    throw new OnnxFileError('not-onnx', `not an ONNX file: it looks like ${recognised}`);
  }
  // Every ONNX serializer writes fields in number order, so a model starts with ir_version.
  const startsLikeOnnx = bytes[0] === IR_VERSION_TAG;
  try {
    return parseModel(new ProtobufReader(bytes));
  } catch (error) {
    if (!(error instanceof WireFormatError)) throw error;
    if (error.pastEnd && startsLikeOnnx) {
      throw new OnnxFileError(
        'truncated',
        `the ONNX file is truncated (${bytes.length} bytes): ${error.message}; copy or download it again`,
      );
    }
    throw new OnnxFileError('not-onnx', `not an ONNX file: the bytes are not a protobuf ModelProto (${error.message})`);
  }
}

/** metadata_props of an ONNX model as a plain record (later duplicate keys win, as in onnxruntime). */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  return readOnnxModelInfo(bytes).metadata;
}

function parseModel(reader: ProtobufReader): OnnxModelInfo {
  let irVersion: number | undefined;
  let producerName = '';
  let producerVersion = '';
  const opsets: OnnxModelInfo['opsets'] = [];
  const metadata: Record<string, string> = {};
  let graph: Pick<OnnxModelInfo, 'graphName' | 'inputs' | 'outputs'> | undefined;
  while (!reader.done) {
    const { fieldNumber, wireType } = reader.readHeader();
    if (fieldNumber === Model.irVersion && wireType === WireType.varint) irVersion = reader.readVarint();
    else if (fieldNumber === Model.producerName && wireType === WireType.lengthDelimited) producerName = reader.readString();
    else if (fieldNumber === Model.producerVersion && wireType === WireType.lengthDelimited) producerVersion = reader.readString();
    else if (fieldNumber === Model.opsetImport && wireType === WireType.lengthDelimited) opsets.push(parseOpset(reader.readMessage()));
    else if (fieldNumber === Model.metadataProps && wireType === WireType.lengthDelimited) {
      const [key, value] = parseStringEntry(reader.readMessage());
      metadata[key] = value;
    } else if (fieldNumber === Model.graph && wireType === WireType.lengthDelimited) graph = parseGraph(reader.readMessage());
    else reader.skip(wireType);
  }
  if (irVersion === undefined && graph === undefined) {
    throw new OnnxFileError('not-onnx', 'not an ONNX file: the protobuf message has neither ir_version nor a graph');
  }
  if (irVersion === undefined) {
    throw new OnnxFileError('not-onnx', 'not an ONNX file: ir_version (ModelProto field 1) is missing');
  }
  if (graph === undefined) {
    throw new OnnxFileError('missing-graph', 'the ONNX file has no graph (ModelProto field 7): nothing to run');
  }
  return { irVersion, producerName, producerVersion, opsets, metadata, ...graph };
}

function parseGraph(reader: ProtobufReader): Pick<OnnxModelInfo, 'graphName' | 'inputs' | 'outputs'> {
  let graphName = '';
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  const initializerNames = new Set<string>();
  while (!reader.done) {
    const { fieldNumber, wireType } = reader.readHeader();
    if (wireType !== WireType.lengthDelimited) reader.skip(wireType);
    else if (fieldNumber === Graph.name) graphName = reader.readString();
    else if (fieldNumber === Graph.input) inputs.push(parseValueInfo(reader.readMessage()));
    else if (fieldNumber === Graph.output) outputs.push(parseValueInfo(reader.readMessage()));
    else if (fieldNumber === Graph.initializer) initializerNames.add(parseTensorName(reader.readMessage()));
    else reader.skip(wireType);
  }
  // Before IR version 4 initializers were also listed as graph inputs.
  return { graphName, inputs: inputs.filter((input) => !initializerNames.has(input.name)), outputs };
}

function parseValueInfo(reader: ProtobufReader): OnnxValueInfo {
  const info: OnnxValueInfo = { name: '', elementType: null, dims: null };
  while (!reader.done) {
    const { fieldNumber, wireType } = reader.readHeader();
    if (fieldNumber === ValueInfo.name && wireType === WireType.lengthDelimited) info.name = reader.readString();
    else if (fieldNumber === ValueInfo.type && wireType === WireType.lengthDelimited) {
      const type = reader.readMessage();
      while (!type.done) {
        const header = type.readHeader();
        if (header.fieldNumber === TypeProto.tensorType && header.wireType === WireType.lengthDelimited) {
          parseTensorType(type.readMessage(), info);
        } else type.skip(header.wireType);
      }
    } else reader.skip(wireType);
  }
  return info;
}

function parseTensorType(reader: ProtobufReader, info: OnnxValueInfo): void {
  while (!reader.done) {
    const { fieldNumber, wireType } = reader.readHeader();
    if (fieldNumber === TensorTypeProto.elemType && wireType === WireType.varint) info.elementType = reader.readVarint();
    else if (fieldNumber === TensorTypeProto.shape && wireType === WireType.lengthDelimited) {
      const shape = reader.readMessage();
      info.dims = [];
      while (!shape.done) {
        const header = shape.readHeader();
        if (header.fieldNumber === Shape.dim && header.wireType === WireType.lengthDelimited) {
          info.dims.push(parseDimension(shape.readMessage()));
        } else shape.skip(header.wireType);
      }
    } else reader.skip(wireType);
  }
}

function parseDimension(reader: ProtobufReader): number | string | null {
  let dim: number | string | null = null;
  while (!reader.done) {
    const { fieldNumber, wireType } = reader.readHeader();
    if (fieldNumber === Dimension.value && wireType === WireType.varint) dim = reader.readVarint();
    else if (fieldNumber === Dimension.param && wireType === WireType.lengthDelimited) dim = reader.readString();
    else reader.skip(wireType);
  }
  return dim;
}

function parseTensorName(reader: ProtobufReader): string {
  let name = '';
  while (!reader.done) {
    const { fieldNumber, wireType } = reader.readHeader();
    if (fieldNumber === TensorProto.name && wireType === WireType.lengthDelimited) name = reader.readString();
    else reader.skip(wireType);
  }
  return name;
}

function parseOpset(reader: ProtobufReader): { domain: string; version: number } {
  const opset = { domain: '', version: 0 };
  while (!reader.done) {
    const { fieldNumber, wireType } = reader.readHeader();
    if (fieldNumber === OperatorSet.domain && wireType === WireType.lengthDelimited) opset.domain = reader.readString();
    else if (fieldNumber === OperatorSet.version && wireType === WireType.varint) opset.version = reader.readVarint();
    else reader.skip(wireType);
  }
  return opset;
}

function parseStringEntry(reader: ProtobufReader): [string, string] {
  let key = '';
  let value = '';
  while (!reader.done) {
    const { fieldNumber, wireType } = reader.readHeader();
    if (fieldNumber === StringEntry.key && wireType === WireType.lengthDelimited) key = reader.readString();
    else if (fieldNumber === StringEntry.value && wireType === WireType.lengthDelimited) value = reader.readString();
    else reader.skip(wireType);
  }
  return [key, value];
}

function recogniseOtherFormat(bytes: Uint8Array): string | null {
  const startsWith = (signature: number[]) => signature.every((byte, i) => bytes[i] === byte);
  if (startsWith(PNG_SIGNATURE)) return 'a PNG image';
  if (startsWith(JPEG_SIGNATURE)) return 'a JPEG image';
  let first = 0;
  while (first < bytes.length && first < 64 && /\s/.test(String.fromCharCode(bytes[first]))) first++;
  const firstChar = String.fromCharCode(bytes[first] ?? 0);
  if (firstChar === '{' || firstChar === '[') return 'a JSON text file (a run folder\'s model.json? export it with `residuum export`)';
  if (bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] === 0x4b) return 'a ZIP archive';
  return null;
}
