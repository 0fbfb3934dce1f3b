/** TF.js Layers model (model.json + weights) -> ONNX ModelProto bytes. */
import { type ModelCard, modelCardToMetadata, type OutputSpec, validateModelCard } from '@residuum/scoring';
import { ConversionError, layerError } from './errors.js';
import { toFloat16Bytes } from './fp16.js';
import type { Float16StorageReport } from './fp16-storage.js';
import { GraphBuilder, type Initializer } from './graph-builder.js';
import { type FoldableConv, LAYER_CONVERTERS, type LayerContext, type Value } from './layers/index.js';
import {
  attr,
  type Dim,
  encodeModel,
  ONNX_IR_VERSION,
  ONNX_OPSET_VERSION,
  type TensorSpec,
  TensorDataType,
  type ValueInfoSpec,
} from './onnx-model.js';
import { appendScoringHead, SCORING_HEAD_OUTPUT, scoringHeadOutput, scoringHeadSupport } from './scoring-head.js';
import { type CutSummary, cutModel, type NamedWeight, parseModelJson, tensorKey, type ParsedModel } from './topology.js';
import { CONVERTER_NAME, CONVERTER_VERSION } from './version.js';

export interface ConvertOptions {
  /** Parsed tf.io model.json: { modelTopology, weightsManifest }. */
  modelJson: object;
  /** Weight data: every weights file of the manifest, concatenated in manifest order. */
  weights: ArrayBuffer | Uint8Array;
  /** Embedded in metadata_props; its output names name the graph outputs. */
  card?: ModelCard;
  /** Float16 weights and compute; the graph interface stays float32. */
  fp16?: boolean;
  /** Graph output names when no card is given (default: 'reconstruction' for one output, else the layer names). */
  outputNames?: string[];
  /**
   * Append the card's pixel anomaly map as an output 'anomaly_map' (computed by onnxruntime instead
   * of the runtime's JavaScript); default true. Needs a card; skipped, with the reason in the
   * report, for maps the graph cannot compute (see scoringHeadSupport).
   */
  scoringHead?: boolean;
  /**
   * Cut the model: these layers' outputs (in this order) become the graph outputs, and the layers
   * and weights that do not lead to them are left out (e.g. a backbone cut after its third stage,
   * with the stage outputs as features). Default: the model's own outputs.
   */
  outputLayers?: string[];
}

export interface McMaskInput {
  name: string;
  /** Graph input shape, 'N' = batch. */
  shape: Array<number | 'N'>;
  rate: number;
  layer: string;
}

export interface ConversionReport {
  opsetVersion: number;
  irVersion: number;
  nodes: number;
  initializers: number;
  foldedBatchNorms: number;
  warnings: string[];
  inputName: string;
  /** Every graph input: ['input'], or the InputLayer names of a multi-input model. */
  inputNames: string[];
  outputs: Array<{ name: string; shape: Array<number | 'N'> }>;
  mcMaskInputs: McMaskInput[];
  fp16: boolean;
  /** A spliced model's fp16 export: float16 storage of the weights, float32 compute (fp16-storage.ts). */
  fp16Storage?: Float16StorageReport;
  /** The appended anomaly-map output, or why there is none. */
  scoringHead: { output: string } | { skipped: string };
  /** Present when `outputLayers` cut the model. */
  cut?: CutSummary;
}

export interface ConversionResult {
  onnx: Uint8Array;
  report: ConversionReport;
  /** The card as embedded (mask inputs and converter version filled in); undefined without a card. */
  card?: ModelCard;
}

const BATCH = 'N';

function physicalShape(shape: number[]): Array<number | 'N'> {
  return shape.length === 3 ? [BATCH, shape[2], shape[0], shape[1]] : [BATCH, ...shape];
}

function toBytes(weights: ArrayBuffer | Uint8Array): Uint8Array {
  if (weights instanceof Uint8Array) return weights;
  if (weights instanceof ArrayBuffer) return new Uint8Array(weights);
  throw new ConversionError('weights must be an ArrayBuffer or Uint8Array');
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** ONNX raw_data is little-endian. */
function float32LittleEndianBytes(values: Float32Array): Uint8Array {
  if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return raw;
}

/** An initializer as an ONNX tensor (float32, or float16 storage in an fp16 export unless it must stay float32). */
export function tensorOf(init: Initializer, fp16: boolean): TensorSpec {
  if (init.kind === 'int64') {
    const raw = new Uint8Array(init.values.length * 8);
    const view = new DataView(raw.buffer);
    init.values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    return { name: init.name, dims: init.dims, dataType: TensorDataType.INT64, rawData: raw };
  }
  if (fp16 && !init.keepFloat32) {
    return { name: init.name, dims: init.dims, dataType: TensorDataType.FLOAT16, rawData: toFloat16Bytes(init.values) };
  }
  return { name: init.name, dims: init.dims, dataType: TensorDataType.FLOAT, rawData: float32LittleEndianBytes(init.values) };
}

function outputNamesFor(model: ParsedModel, options: ConvertOptions): string[] {
  const count = model.outputs.length;
  let names: string[];
  if (options.card) {
    if (options.card.outputs.length !== count) {
      throw new ConversionError(`card lists ${options.card.outputs.length} outputs (${options.card.outputs.map((o) => o.name).join(', ')}) but the model has ${count}`);
    }
    names = options.card.outputs.map((o) => o.name);
  } else if (options.outputNames) {
    if (options.outputNames.length !== count) throw new ConversionError(`outputNames has ${options.outputNames.length} names but the model has ${count} outputs`);
    names = options.outputNames;
  } else {
    names = count === 1 ? ['reconstruction'] : model.outputs.map((o) => o.layer);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (!name || name === 'input' || name === SCORING_HEAD_OUTPUT || name.startsWith('mc_mask_') || seen.has(name)) {
      throw new ConversionError(`invalid or duplicate graph output name '${name}'`);
    }
    seen.add(name);
  }
  return names;
}

function sameShape(a: Array<number | string>, b: Array<number | string>): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkCard(card: ModelCard, inputShape: Array<number | 'N'>, outputs: Array<{ name: string; shape: Array<number | 'N'> }>): void {
  if (!sameShape(card.input.shape, inputShape)) {
    throw new ConversionError(`card.input.shape ${JSON.stringify(card.input.shape)} does not match the model input ${JSON.stringify(inputShape)}`);
  }
  if (card.input.name !== 'input') throw new ConversionError(`card.input.name must be 'input', got '${card.input.name}'`);
  card.outputs.forEach((spec: OutputSpec, i) => {
    if (!sameShape(spec.shape, outputs[i].shape)) {
      throw new ConversionError(`card output '${spec.name}' has shape ${JSON.stringify(spec.shape)} but model output ${i} has ${JSON.stringify(outputs[i].shape)}`);
    }
  });
}

export function convertLayersModel(options: ConvertOptions): ConversionResult {
  if (typeof options !== 'object' || options === null) throw new ConversionError('convertLayersModel: options object required');
  const fp16 = options.fp16 === true;
  // Fails early with every problem of the card listed (ModelCardError).
  const inputCard = options.card === undefined ? undefined : validateModelCard(options.card);
  const parsed = parseModelJson(options.modelJson, toBytes(options.weights));
  const { model, cut } = options.outputLayers === undefined ? { model: parsed, cut: undefined } : cutModel(parsed, options.outputLayers);
  if (model.inputs.length === 0) throw new ConversionError('the model has no input');
  // Several inputs: a head that takes a backbone's feature maps, spliced behind it later
  // (spliceOnnxModels); its graph inputs keep the InputLayer names. A card describes one image input.
  const inputNames = model.inputs.length === 1 ? ['input'] : model.inputs.map((i) => i.name);
  if (inputNames.length > 1 && inputCard) {
    throw new ConversionError(
      `the model has ${inputNames.length} inputs (${inputNames.join(', ')}); a card describes one image input: convert it without a card and splice it behind its backbone`,
    );
  }
  for (const modelInput of model.inputs) {
    if (modelInput.shape.length !== 3) {
      throw new ConversionError(`input '${modelInput.name}' has shape ${JSON.stringify(modelInput.shape)}; an image input [H, W, C] is required`);
    }
  }
  if (new Set(inputNames).size !== inputNames.length || inputNames.some((n) => n === SCORING_HEAD_OUTPUT || n.startsWith('mc_mask_'))) {
    throw new ConversionError(`invalid or duplicate input names ${JSON.stringify(inputNames)}`);
  }
  const modelInput = model.inputs[0];
  if (inputCard?.outputs.some((o) => o.meaning === 'anomaly-map')) {
    throw new ConversionError("the card lists an 'anomaly-map' output; that output is the converter's scoring head, remove it from the card (use scoringHead: false to leave it out)");
  }
  const outputNames = outputNamesFor(model, { ...options, card: inputCard });
  const clash = outputNames.find((n) => inputNames.includes(n));
  if (clash) throw new ConversionError(`output name '${clash}' is also an input name`);
  const builder = new GraphBuilder();
  inputNames.forEach((n) => builder.reserve(n));
  outputNames.forEach((n) => builder.reserve(n));
  builder.reserve(SCORING_HEAD_OUTPUT);
  const mcCalls = model.calls.filter((c) => c.className === 'McDropout');
  mcCalls.forEach((_, k) => builder.reserve(`mc_mask_${k}`));

  const consumers = new Map<string, number>();
  const bump = (key: string, by: number) => consumers.set(key, (consumers.get(key) ?? 0) + by);
  for (const call of model.calls) for (const ref of call.inputs) bump(tensorKey(ref), 1);
  for (const ref of model.outputs) bump(tensorKey(ref), 2); // an output can never be folded away

  const graphInputs: ValueInfoSpec[] = model.inputs.map((input, i) => ({ name: inputNames[i], elemType: TensorDataType.FLOAT, shape: physicalShape(input.shape) }));
  const castIn = (name: string): string => (fp16 ? builder.node('Cast', [name], [attr.int('to', TensorDataType.FLOAT16)], `${name}_fp16`) : name);
  const values = new Map<string, Value>();
  model.inputs.forEach((input, i) => values.set(tensorKey({ layer: input.name, nodeIndex: 0, tensorIndex: 0 }), { name: castIn(inputNames[i]), shape: input.shape }));

  const foldable = new Map<string, FoldableConv>();
  const usedWeights = new Set<string>();
  const warnings: string[] = [];
  const mcMaskInputs: McMaskInput[] = [];
  let foldedBatchNorms = 0;

  for (const call of model.calls) {
    const converter = LAYER_CONVERTERS.get(call.className);
    if (!converter) throw layerError(call, 'unsupported layer class');
    const inputs = call.inputs.map((ref) => {
      const value = values.get(tensorKey(ref));
      if (!value) throw layerError(call, `input ${ref.layer}[${ref.nodeIndex}][${ref.tensorIndex}] is not available (multi-output layers are not supported)`);
      return value;
    });
    const findWeight = (shortName: string): [string, NamedWeight] | undefined => {
      const exact = `${call.name}/${shortName}`;
      const direct = model.weights.get(exact);
      if (direct) return [exact, direct];
      for (const [name, weight] of model.weights) {
        if (name.endsWith(`/${exact}`) || new RegExp(`^(.*/)?${escapeRegExp(call.name)}/${escapeRegExp(shortName)}_\\d+$`).test(name)) return [name, weight];
      }
      return undefined;
    };
    const ctx: LayerContext = {
      builder,
      call,
      inputs,
      weight(shortName, expectedShape) {
        const found = findWeight(shortName);
        if (!found) throw layerError(call, `weight '${call.name}/${shortName}' not found in weightsManifest`);
        const [name, weight] = found;
        if (expectedShape && !sameShape(weight.shape, expectedShape)) {
          throw layerError(call, `weight '${name}' has shape ${JSON.stringify(weight.shape)}, expected ${JSON.stringify(expectedShape)}`);
        }
        usedWeights.add(name);
        return weight;
      },
      foldableInput() {
        if (call.inputs.length !== 1) return undefined;
        const key = tensorKey(call.inputs[0]);
        return consumers.get(key) === 1 ? foldable.get(key) : undefined;
      },
      registerFoldable(conv) {
        foldable.set(tensorKey({ layer: call.name, nodeIndex: 0, tensorIndex: 0 }), conv);
      },
      countFoldedBatchNorm() {
        foldedBatchNorms += 1;
      },
      mcMaskInput(rate, shape) {
        const k = mcMaskInputs.length;
        const name = `mc_mask_${k}`;
        const graphShape: Array<number | 'N'> = [BATCH, ...shape];
        graphInputs.push({ name, elemType: TensorDataType.FLOAT, shape: graphShape });
        mcMaskInputs.push({ name, shape: graphShape, rate, layer: call.name });
        return castIn(name);
      },
      warn(message) {
        warnings.push(message);
      },
    };
    values.set(tensorKey({ layer: call.name, nodeIndex: 0, tensorIndex: 0 }), converter(ctx));
  }

  const unused = [...model.weights.keys()].filter((name) => !usedWeights.has(name));
  if (unused.length > 0) {
    throw new ConversionError(`weights not used by any converted layer (the conversion would silently drop them): ${unused.join(', ')}`);
  }

  const graphInputNames = new Set(graphInputs.map((i) => i.name));
  const renamed = new Set<string>();
  const outputs = model.outputs.map((ref, i) => {
    const value = values.get(tensorKey(ref));
    if (!value) throw new ConversionError(`model output ${ref.layer} was not produced`);
    const name = outputNames[i];
    if (fp16) builder.nodeTo('Cast', [value.name], [attr.int('to', TensorDataType.FLOAT)], name);
    else if (graphInputNames.has(value.name) || renamed.has(value.name)) builder.nodeTo('Identity', [value.name], [], name);
    else {
      builder.renameValue(value.name, name);
      for (const v of values.values()) if (v.name === value.name) v.name = name;
      renamed.add(name);
    }
    return { name, shape: physicalShape(value.shape) };
  });

  let card: ModelCard | undefined;
  if (inputCard) {
    checkCard(inputCard, physicalShape(modelInput.shape), outputs);
    card = structuredClone(inputCard);
    card.producer = { ...card.producer, converter: `${CONVERTER_NAME}@${CONVERTER_VERSION}${fp16 ? ' (fp16)' : ''}` };
    const declared = inputCard.mcDropout?.maskInputs ?? [];
    const exported = mcMaskInputs.map(({ name, shape, rate }) => ({ name, shape, rate }));
    if (declared.length > 0 && JSON.stringify(declared.map(({ name, shape, rate }) => ({ name, shape, rate }))) !== JSON.stringify(exported)) {
      throw new ConversionError(`card.mcDropout.maskInputs ${JSON.stringify(declared)} disagree with the exported graph's mask inputs ${JSON.stringify(exported)}`);
    }
    if (mcMaskInputs.length > 0) {
      const seed = inputCard.mcDropout?.seed;
      card.mcDropout = {
        samples: inputCard.mcDropout?.samples ?? 30,
        maskInputs: exported,
        ...(seed !== undefined ? { seed } : {}),
      };
    } else if (card.mcDropout) {
      throw new ConversionError('card.mcDropout is set but the model has no McDropout layer');
    }
  }
  // Decided on the final card: the converter fills in mcDropout from the graph's mask inputs.
  const headSupport = !card
    ? { supported: false as const, reason: 'no model card' }
    : options.scoringHead === false
      ? { supported: false as const, reason: 'scoringHead: false' }
      : scoringHeadSupport(card);
  if (card && headSupport.supported) {
    const reconstruction = card.outputs.find((o) => o.meaning === 'reconstruction')!.name;
    appendScoringHead(builder, card, 'input', reconstruction);
    const headOutput = scoringHeadOutput(card);
    card.outputs.push(headOutput);
    outputs.push({ name: headOutput.name, shape: headOutput.shape });
  }
  if (fp16) warnings.push('fp16 export: weights and compute in float16; expect differences around 1e-2 against float32');

  const graphOutputs: ValueInfoSpec[] = outputs.map((o) => ({ name: o.name, elemType: TensorDataType.FLOAT, shape: o.shape as Dim[] }));
  const onnx = encodeModel({
    graph: {
      name: model.name,
      nodes: builder.nodes,
      initializers: builder.initializers.map((init) => tensorOf(init, fp16)),
      inputs: graphInputs,
      outputs: graphOutputs,
    },
    producerName: CONVERTER_NAME,
    producerVersion: CONVERTER_VERSION,
    docString: `Converted from TF.js Layers model '${model.name}'`,
    metadata: card ? modelCardToMetadata(card) : {},
  });
  return {
    onnx,
    card,
    report: {
      opsetVersion: ONNX_OPSET_VERSION,
      irVersion: ONNX_IR_VERSION,
      nodes: builder.nodes.length,
      initializers: builder.initializers.length,
      foldedBatchNorms,
      warnings,
      inputName: inputNames[0],
      inputNames,
      outputs,
      mcMaskInputs,
      fp16,
      scoringHead: headSupport.supported ? { output: SCORING_HEAD_OUTPUT } : { skipped: headSupport.reason },
      ...(cut ? { cut } : {}),
    },
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
