/**
 * What every layer converter shares: the context the conversion loop hands it, the readers of a
 * layer's serialized config, and TF's spatial arithmetic. Tensors of rank 4 (with batch) live in
 * NCHW inside the ONNX graph; every other rank keeps TF.js's element order. `Value.shape` is
 * always the TF.js shape without the batch dimension, so rank-3 shapes are [H, W, C].
 */
import { layerError } from '../errors.js';
import type { FloatInitializer, GraphBuilder } from '../graph-builder.js';
import type { NodeSpec } from '../onnx-model.js';
import type { LayerCall, NamedWeight } from '../topology.js';

export interface Value {
  name: string;
  shape: number[];
}

/** A Conv/ConvTranspose node whose output a following BatchNormalization may be folded into. */
export interface FoldableConv {
  node: NodeSpec;
  kernel: FloatInitializer;
  bias: FloatInitializer | undefined;
  /** Axis of the output channel in the ONNX weight (0 for Conv, 1 for ConvTranspose). */
  outChannelAxis: number;
  outChannels: number;
}

export interface LayerContext {
  builder: GraphBuilder;
  call: LayerCall;
  inputs: Value[];
  /** Required weight `<layer>/<shortName>`; checks its shape when given. */
  weight(shortName: string, expectedShape?: number[]): NamedWeight;
  /** Conv producing this layer's (single) input, when folding into it is legal. */
  foldableInput(): FoldableConv | undefined;
  registerFoldable(conv: FoldableConv): void;
  countFoldedBatchNorm(): void;
  /** Graph input carrying an MC-Dropout mask for this layer, with the given physical shape. */
  mcMaskInput(rate: number, physicalShape: number[]): string;
  warn(message: string): void;
}


export type LayerConverter = (ctx: LayerContext) => Value;

/** One kind's converters by TF.js Layers class name (tfjs-layers' registry, one file per kind). */
export type LayerRegistry = Readonly<Record<string, LayerConverter>>;

// ---------- config readers ----------

export function configValue(ctx: LayerContext, ...keys: string[]): unknown {
  for (const key of keys) if (ctx.call.config[key] !== undefined && ctx.call.config[key] !== null) return ctx.call.config[key];
  return undefined;
}

export function intPair(ctx: LayerContext, key: string, fallback?: [number, number]): [number, number] {
  const value = configValue(ctx, key);
  if (value === undefined) {
    if (fallback) return fallback;
    throw layerError(ctx.call, `config.${key} is missing`);
  }
  const pair = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= 0)) {
    throw layerError(ctx.call, `config.${key} must be an integer or a pair of integers, got ${JSON.stringify(value)}`);
  }
  return [pair[0] as number, pair[1] as number];
}

export function positiveInt(ctx: LayerContext, key: string, fallback?: number): number {
  const value = configValue(ctx, key) ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw layerError(ctx.call, `config.${key} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function numberConfig(ctx: LayerContext, key: string, fallback: number): number {
  const value = configValue(ctx, key) ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw layerError(ctx.call, `config.${key} must be a number, got ${JSON.stringify(value)}`);
  return value;
}

export function booleanConfig(ctx: LayerContext, keys: string[], fallback: boolean): boolean {
  const value = configValue(ctx, ...keys) ?? fallback;
  if (typeof value !== 'boolean') throw layerError(ctx.call, `config.${keys[0]} must be a boolean, got ${JSON.stringify(value)}`);
  return value;
}

export function paddingMode(ctx: LayerContext): 'same' | 'valid' {
  const value = configValue(ctx, 'padding') ?? 'valid';
  if (value !== 'same' && value !== 'valid') throw layerError(ctx.call, `padding '${String(value)}' is not supported (same or valid)`);
  return value;
}

export function requireChannelsLast(ctx: LayerContext): void {
  const format = configValue(ctx, 'data_format', 'dataFormat');
  if (format !== undefined && format !== 'channels_last' && format !== 'channelsLast') {
    throw layerError(ctx.call, `data_format ${String(format)} is not supported (channels_last only)`);
  }
}

export function singleInput(ctx: LayerContext): Value {
  if (ctx.inputs.length !== 1) throw layerError(ctx.call, `expected one input, got ${ctx.inputs.length}`);
  return ctx.inputs[0];
}

export function imageInput(ctx: LayerContext): Value {
  const input = singleInput(ctx);
  if (input.shape.length !== 3) throw layerError(ctx.call, `expected an image tensor [H, W, C], got shape ${JSON.stringify(input.shape)}`);
  return input;
}

// ---------- spatial arithmetic (TF semantics) ----------

export interface Window {
  out: number;
  padBegin: number;
  padEnd: number;
}

export function forwardWindow(ctx: LayerContext, size: number, kernel: number, stride: number, dilation: number, padding: 'same' | 'valid'): Window {
  const effective = (kernel - 1) * dilation + 1;
  if (padding === 'valid') {
    const out = Math.floor((size - effective) / stride) + 1;
    if (out < 1) throw layerError(ctx.call, `kernel ${kernel} (dilation ${dilation}) is larger than the input size ${size} with padding 'valid'`);
    return { out, padBegin: 0, padEnd: 0 };
  }
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const padBegin = Math.floor(total / 2);
  return { out, padBegin, padEnd: total - padBegin };
}


/** A float scalar initializer. */
export function scalar(ctx: LayerContext, base: string, value: number): string {
  return ctx.builder.floatConst(base, [value], []).name;
}

/** A layer's TF axis config (counting the batch, negative from the end) -> TF axis 1..rank. */
export function tfAxis(ctx: LayerContext, rawAxis: unknown, rank: number): number {
  if (typeof rawAxis !== 'number' || !Number.isInteger(rawAxis)) throw layerError(ctx.call, `axis must be an integer, got ${JSON.stringify(rawAxis)}`);
  const axis = rawAxis < 0 ? rank + 1 + rawAxis : rawAxis;
  if (axis < 1 || axis > rank) throw layerError(ctx.call, `axis ${rawAxis} is out of range for inputs of rank ${rank + 1} (or is the batch axis)`);
  return axis;
}

/** TF axis 1..rank -> axis of the ONNX value (images are NCHW inside the graph). */
export function onnxAxisOf(axis: number, rank: number): number {
  return rank === 3 ? [0, 2, 3, 1][axis] : axis;
}
