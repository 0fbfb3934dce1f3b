/**
 * Reads a tf.io model.json (modelTopology + weightsManifest) and its weight data into a
 * flat, topologically ordered list of layer calls with named weights.
 */
import { ConversionError, layerError } from './errors.js';

export type LayerConfig = Record<string, unknown>;

export interface TensorRef {
  layer: string;
  nodeIndex: number;
  tensorIndex: number;
}

export interface LayerCall {
  name: string;
  className: string;
  config: LayerConfig;
  inputs: TensorRef[];
}

export interface ModelInputSpec {
  /** Layer name of the InputLayer. */
  name: string;
  /** Shape without the batch dimension, TF.js order (NHWC for images). */
  shape: number[];
}

export interface NamedWeight {
  shape: number[];
  values: Float32Array;
}

export interface ParsedModel {
  name: string;
  inputs: ModelInputSpec[];
  /** Layer calls in topological order (inputs first), InputLayers excluded. */
  calls: LayerCall[];
  outputs: TensorRef[];
  weights: Map<string, NamedWeight>;
}

export function tensorKey(ref: TensorRef): string {
  return `${ref.layer}:${ref.nodeIndex}:${ref.tensorIndex}`;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

interface RawLayer {
  name: string;
  className: string;
  config: LayerConfig;
  inboundNodes: unknown[];
}

function readRawLayer(value: unknown, index: number): RawLayer {
  if (!isObject(value) || typeof value.class_name !== 'string' || !isObject(value.config)) {
    throw new ConversionError(`modelTopology.config.layers[${index}]: expected {class_name, config}`);
  }
  const name = typeof value.name === 'string' ? value.name : value.config.name;
  if (typeof name !== 'string') throw new ConversionError(`modelTopology.config.layers[${index}]: layer has no name`);
  return {
    name,
    className: value.class_name,
    config: value.config,
    inboundNodes: Array.isArray(value.inbound_nodes) ? value.inbound_nodes : [],
  };
}

function readBatchInputShape(layer: RawLayer): number[] {
  const shape = layer.config.batch_input_shape ?? layer.config.batchInputShape;
  if (!Array.isArray(shape) || shape.length < 2) {
    throw layerError(layer, `batch_input_shape missing or invalid: ${JSON.stringify(shape)}`);
  }
  const dims = shape.slice(1);
  if (!dims.every((d): d is number => typeof d === 'number' && Number.isInteger(d) && d > 0)) {
    throw layerError(layer, `input dimensions must all be known positive integers (got ${JSON.stringify(shape)}); the converter needs static spatial sizes`);
  }
  if (layer.config.dtype !== undefined && layer.config.dtype !== 'float32') {
    throw layerError(layer, `input dtype ${String(layer.config.dtype)} is not supported (float32 only)`);
  }
  return dims;
}

function readRef(value: unknown, where: string): TensorRef {
  if (!Array.isArray(value) || typeof value[0] !== 'string') {
    throw new ConversionError(`${where}: expected [layerName, nodeIndex, tensorIndex], got ${JSON.stringify(value)}`);
  }
  return { layer: value[0], nodeIndex: Number(value[1] ?? 0), tensorIndex: Number(value[2] ?? 0) };
}

const NESTED_MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

function parseSequential(name: string, rawLayers: RawLayer[]): Omit<ParsedModel, 'weights'> {
  if (rawLayers.length === 0) throw new ConversionError('Sequential model has no layers');
  let layers = rawLayers;
  let input: ModelInputSpec;
  if (layers[0].className === 'InputLayer') {
    input = { name: layers[0].name, shape: readBatchInputShape(layers[0]) };
    layers = layers.slice(1);
  } else {
    input = { name: `${layers[0].name}_input`, shape: readBatchInputShape(layers[0]) };
  }
  const calls: LayerCall[] = [];
  let previous: TensorRef = { layer: input.name, nodeIndex: 0, tensorIndex: 0 };
  for (const layer of layers) {
    if (NESTED_MODEL_CLASSES.has(layer.className)) throw layerError(layer, 'nested models are not supported');
    calls.push({ name: layer.name, className: layer.className, config: layer.config, inputs: [previous] });
    previous = { layer: layer.name, nodeIndex: 0, tensorIndex: 0 };
  }
  return { name, inputs: [input], calls, outputs: [previous] };
}

function parseFunctional(name: string, config: Record<string, unknown>, rawLayers: RawLayer[]): Omit<ParsedModel, 'weights'> {
  const inputs: ModelInputSpec[] = [];
  const calls: LayerCall[] = [];
  for (const layer of rawLayers) {
    if (layer.className === 'InputLayer') {
      inputs.push({ name: layer.name, shape: readBatchInputShape(layer) });
      continue;
    }
    if (NESTED_MODEL_CLASSES.has(layer.className)) throw layerError(layer, 'nested models are not supported');
    if (layer.inboundNodes.length !== 1) {
      throw layerError(
        layer,
        layer.inboundNodes.length === 0
          ? 'layer is not connected (no inbound nodes)'
          : `layer is called ${layer.inboundNodes.length} times (shared layers are not supported)`,
      );
    }
    const node = layer.inboundNodes[0];
    if (!Array.isArray(node) || node.length === 0) throw layerError(layer, 'inbound node has no inputs');
    calls.push({
      name: layer.name,
      className: layer.className,
      config: layer.config,
      inputs: node.map((ref, i) => readRef(ref, `layer '${layer.name}' inbound input ${i}`)),
    });
  }
  const readRefs = (value: unknown, key: string): TensorRef[] => {
    if (!Array.isArray(value)) throw new ConversionError(`modelTopology.config.${key} missing`);
    return value.map((ref, i) => readRef(ref, `modelTopology.config.${key}[${i}]`));
  };
  const inputRefs = readRefs(config.input_layers, 'input_layers');
  const outputs = readRefs(config.output_layers, 'output_layers');
  const orderedInputs = inputRefs.map((ref) => {
    const spec = inputs.find((i) => i.name === ref.layer);
    if (!spec) throw new ConversionError(`modelTopology: input layer '${ref.layer}' is not an InputLayer`);
    return spec;
  });
  return { name, inputs: orderedInputs, calls: sortTopologically(calls, orderedInputs), outputs };
}

/** Keras lists layers in creation order, which is topological for models built by the functional API; this makes sure. */
function sortTopologically(calls: LayerCall[], inputs: ModelInputSpec[]): LayerCall[] {
  const produced = new Set(inputs.map((i) => i.name));
  const pending = [...calls];
  const ordered: LayerCall[] = [];
  while (pending.length > 0) {
    const index = pending.findIndex((call) => call.inputs.every((ref) => produced.has(ref.layer)));
    if (index < 0) {
      const stuck = pending[0];
      const missing = stuck.inputs.filter((ref) => !produced.has(ref.layer)).map((r) => r.layer);
      throw layerError(stuck, `inputs ${JSON.stringify(missing)} are never produced (cycle or unknown layer)`);
    }
    const [call] = pending.splice(index, 1);
    ordered.push(call);
    produced.add(call.name);
  }
  return ordered;
}

function readWeights(modelJson: Record<string, unknown>, data: Uint8Array): Map<string, NamedWeight> {
  const manifest = modelJson.weightsManifest;
  if (!Array.isArray(manifest)) throw new ConversionError('model.json: weightsManifest missing or not an array');
  const weights = new Map<string, NamedWeight>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  for (const group of manifest) {
    if (!isObject(group) || !Array.isArray(group.weights)) throw new ConversionError('model.json: weightsManifest entry without weights');
    for (const entry of group.weights) {
      if (!isObject(entry) || typeof entry.name !== 'string' || !Array.isArray(entry.shape)) {
        throw new ConversionError(`model.json: invalid weight spec ${JSON.stringify(entry)}`);
      }
      if (entry.quantization !== undefined) throw new ConversionError(`weight '${entry.name}': quantized weights are not supported`);
      if (entry.dtype !== 'float32') throw new ConversionError(`weight '${entry.name}': dtype ${String(entry.dtype)} is not supported (float32 only)`);
      const shape = entry.shape.map(Number);
      const count = shape.reduce((a, b) => a * b, 1);
      if (offset + count * 4 > data.byteLength) {
        throw new ConversionError(`weight data too short: '${entry.name}' needs bytes ${offset}..${offset + count * 4}, data has ${data.byteLength}`);
      }
      const values = readFloat32LittleEndian(data, view, offset, count);
      offset += count * 4;
      if (weights.has(entry.name)) throw new ConversionError(`weight '${entry.name}' appears twice in weightsManifest`);
      weights.set(entry.name, { shape, values });
    }
  }
  if (offset !== data.byteLength) {
    throw new ConversionError(`weight data has ${data.byteLength} bytes but weightsManifest describes ${offset}`);
  }
  return weights;
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readFloat32LittleEndian(data: Uint8Array, view: DataView, offset: number, count: number): Float32Array {
  if (HOST_IS_LITTLE_ENDIAN) {
    const start = data.byteOffset + offset;
    return new Float32Array(data.buffer.slice(start, start + count * 4));
  }
  const values = new Float32Array(count);
  for (let i = 0; i < count; i += 1) values[i] = view.getFloat32(offset + i * 4, true);
  return values;
}

export function parseModelJson(modelJson: unknown, weightData: Uint8Array): ParsedModel {
  if (!isObject(modelJson)) throw new ConversionError('modelJson must be the parsed model.json object');
  const topology = isObject(modelJson.modelTopology) && isObject(modelJson.modelTopology.model_config)
    ? modelJson.modelTopology.model_config
    : modelJson.modelTopology;
  if (!isObject(topology) || typeof topology.class_name !== 'string' || !isObject(topology.config)) {
    throw new ConversionError('model.json: modelTopology missing or not a TF.js Layers topology');
  }
  const config = topology.config;
  const rawList = Array.isArray(config) ? config : config.layers;
  if (!Array.isArray(rawList)) throw new ConversionError('model.json: modelTopology.config.layers missing');
  const rawLayers = rawList.map(readRawLayer);
  const name = typeof config.name === 'string' ? config.name : 'model';
  const structure = topology.class_name === 'Sequential'
    ? parseSequential(name, rawLayers)
    : parseFunctional(name, config, rawLayers);
  return { ...structure, weights: readWeights(modelJson, weightData) };
}

export interface CutSummary {
  /** The layers whose outputs became the model outputs, in order. */
  outputs: string[];
  /** Layers past the cut, left out with their weights. */
  droppedLayers: number;
  droppedWeights: number;
}

function weightBelongsTo(weightName: string, layer: string): boolean {
  return weightName.startsWith(`${layer}/`) || weightName.includes(`/${layer}/`);
}

/**
 * The part of `model` that computes the outputs of `outputLayers` (a backbone cut after a stage,
 * its stage outputs as graph outputs). Layers and weights past the cut are dropped on purpose;
 * any other weight no kept layer uses still fails the conversion.
 */
export function cutModel(model: ParsedModel, outputLayers: readonly string[]): { model: ParsedModel; cut: CutSummary } {
  if (!Array.isArray(outputLayers) || outputLayers.length === 0 || !outputLayers.every((n) => typeof n === 'string' && n !== '')) {
    throw new ConversionError(`outputLayers must be a non-empty list of layer names, got ${JSON.stringify(outputLayers)}`);
  }
  if (new Set(outputLayers).size !== outputLayers.length) throw new ConversionError(`outputLayers has duplicates: ${outputLayers.join(', ')}`);
  const byName = new Map(model.calls.map((c) => [c.name, c]));
  const unknown = outputLayers.filter((n) => !byName.has(n));
  if (unknown.length > 0) {
    throw new ConversionError(`outputLayers: no layer named ${unknown.map((n) => `'${n}'`).join(', ')} in model '${model.name}' (input layers cannot be outputs)`);
  }
  const needed = new Set<string>();
  const stack = [...outputLayers];
  while (stack.length > 0) {
    const name = stack.pop() as string;
    if (needed.has(name)) continue;
    needed.add(name);
    for (const ref of byName.get(name)?.inputs ?? []) if (byName.has(ref.layer)) stack.push(ref.layer);
  }
  const dropped = model.calls.filter((c) => !needed.has(c.name)).map((c) => c.name);
  const weights = new Map<string, NamedWeight>();
  let droppedWeights = 0;
  for (const [name, weight] of model.weights) {
    if (dropped.some((layer) => weightBelongsTo(name, layer)) && ![...needed].some((layer) => weightBelongsTo(name, layer))) droppedWeights += 1;
    else weights.set(name, weight);
  }
  return {
    model: {
      ...model,
      calls: model.calls.filter((c) => needed.has(c.name)),
      outputs: outputLayers.map((layer) => ({ layer, nodeIndex: 0, tensorIndex: 0 })),
      weights,
    },
    cut: { outputs: [...outputLayers], droppedLayers: dropped.length, droppedWeights },
  };
}
