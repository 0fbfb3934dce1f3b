/**
 * One converter per TF.js Layers class. Tensors of rank 4 (with batch) live in NCHW inside
 * the ONNX graph; every other rank keeps TF.js's element order. `Value.shape` is always the
 * TF.js shape without the batch dimension, so rank-3 shapes are [H, W, C].
 */
import { layerError } from './errors.js';
import { type FloatInitializer, type GraphBuilder, permute } from './graph-builder.js';
import { attr, type NodeSpec } from './onnx-model.js';
import type { LayerCall, NamedWeight } from './topology.js';

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

type LayerConverter = (ctx: LayerContext) => Value;

// ---------- config readers ----------

function configValue(ctx: LayerContext, ...keys: string[]): unknown {
  for (const key of keys) if (ctx.call.config[key] !== undefined && ctx.call.config[key] !== null) return ctx.call.config[key];
  return undefined;
}

function intPair(ctx: LayerContext, key: string, fallback?: [number, number]): [number, number] {
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

function positiveInt(ctx: LayerContext, key: string, fallback?: number): number {
  const value = configValue(ctx, key) ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw layerError(ctx.call, `config.${key} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function numberConfig(ctx: LayerContext, key: string, fallback: number): number {
  const value = configValue(ctx, key) ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw layerError(ctx.call, `config.${key} must be a number, got ${JSON.stringify(value)}`);
  return value;
}

function booleanConfig(ctx: LayerContext, keys: string[], fallback: boolean): boolean {
  const value = configValue(ctx, ...keys) ?? fallback;
  if (typeof value !== 'boolean') throw layerError(ctx.call, `config.${keys[0]} must be a boolean, got ${JSON.stringify(value)}`);
  return value;
}

function paddingMode(ctx: LayerContext): 'same' | 'valid' {
  const value = configValue(ctx, 'padding') ?? 'valid';
  if (value !== 'same' && value !== 'valid') throw layerError(ctx.call, `padding '${String(value)}' is not supported (same or valid)`);
  return value;
}

function requireChannelsLast(ctx: LayerContext): void {
  const format = configValue(ctx, 'data_format', 'dataFormat');
  if (format !== undefined && format !== 'channels_last' && format !== 'channelsLast') {
    throw layerError(ctx.call, `data_format ${String(format)} is not supported (channels_last only)`);
  }
}

function singleInput(ctx: LayerContext): Value {
  if (ctx.inputs.length !== 1) throw layerError(ctx.call, `expected one input, got ${ctx.inputs.length}`);
  return ctx.inputs[0];
}

function imageInput(ctx: LayerContext): Value {
  const input = singleInput(ctx);
  if (input.shape.length !== 3) throw layerError(ctx.call, `expected an image tensor [H, W, C], got shape ${JSON.stringify(input.shape)}`);
  return input;
}

// ---------- spatial arithmetic (TF semantics) ----------

interface Window {
  out: number;
  padBegin: number;
  padEnd: number;
}

function forwardWindow(ctx: LayerContext, size: number, kernel: number, stride: number, dilation: number, padding: 'same' | 'valid'): Window {
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

// ---------- activations ----------

function scalar(ctx: LayerContext, base: string, value: number): string {
  return ctx.builder.floatConst(base, [value], []).name;
}

/** Applies a TF.js activation (by its serialized name) to `input`. */
export function applyActivation(ctx: LayerContext, input: Value, activation: unknown, base = ctx.call.name): Value {
  const b = ctx.builder;
  const out = (name: string): Value => ({ name, shape: input.shape });
  const x = input.name;
  const channelAxis = input.shape.length === 3 ? 1 : -1;
  switch (activation ?? 'linear') {
    case 'linear':
      return input;
    case 'relu':
      return out(b.node('Relu', [x], [], base));
    case 'relu6':
      return out(b.node('Clip', [x, scalar(ctx, `${base}/min`, 0), scalar(ctx, `${base}/max`, 6)], [], base));
    case 'elu':
      return out(b.node('Elu', [x], [attr.float('alpha', 1)], base));
    case 'selu':
      return out(b.node('Selu', [x], [attr.float('alpha', 1.6732632423543772), attr.float('gamma', 1.0507009873554805)], base));
    case 'sigmoid':
      return out(b.node('Sigmoid', [x], [], base));
    case 'hardSigmoid':
    case 'hard_sigmoid':
      return out(b.node('HardSigmoid', [x], [attr.float('alpha', 0.2), attr.float('beta', 0.5)], base));
    case 'softplus':
      return out(b.node('Softplus', [x], [], base));
    case 'softsign':
      return out(b.node('Softsign', [x], [], base));
    case 'tanh':
      return out(b.node('Tanh', [x], [], base));
    case 'softmax':
      return out(b.node('Softmax', [x], [attr.int('axis', channelAxis)], base));
    case 'logSoftmax':
    case 'log_softmax':
      return out(b.node('LogSoftmax', [x], [attr.int('axis', channelAxis)], base));
    case 'swish':
      return out(b.node('Mul', [x, b.node('Sigmoid', [x], [], `${base}/sigmoid`)], [], base));
    case 'mish': {
      const softplus = b.node('Softplus', [x], [], `${base}/softplus`);
      return out(b.node('Mul', [x, b.node('Tanh', [softplus], [], `${base}/tanh`)], [], base));
    }
    case 'gelu': {
      // 0.5 * x * (1 + erf(x / sqrt 2)), as tfjs-layers computes it (Gelu op needs opset 20).
      const erf = b.node('Erf', [b.node('Div', [x, scalar(ctx, `${base}/sqrt2`, Math.SQRT2)], [], `${base}/scaled`)], [], `${base}/erf`);
      const cdf = b.node('Mul', [b.node('Add', [erf, scalar(ctx, `${base}/one`, 1)], [], `${base}/erf1`), scalar(ctx, `${base}/half`, 0.5)], [], `${base}/cdf`);
      return out(b.node('Mul', [x, cdf], [], base));
    }
    case 'gelu_new': {
      // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
      const cube = b.node('Mul', [x, b.node('Mul', [x, x], [], `${base}/square`)], [], `${base}/cube`);
      const inner = b.node('Add', [x, b.node('Mul', [cube, scalar(ctx, `${base}/c`, 0.044715)], [], `${base}/scaled_cube`)], [], `${base}/inner`);
      const tanh = b.node('Tanh', [b.node('Mul', [inner, scalar(ctx, `${base}/k`, Math.sqrt(2 / Math.PI))], [], `${base}/arg`)], [], `${base}/tanh`);
      const half = b.node('Mul', [b.node('Add', [tanh, scalar(ctx, `${base}/one`, 1)], [], `${base}/tanh1`), scalar(ctx, `${base}/half`, 0.5)], [], `${base}/half_sum`);
      return out(b.node('Mul', [x, half], [], base));
    }
    default:
      throw layerError(ctx.call, `unsupported activation '${String(activation)}'`);
  }
}

function fusedActivation(ctx: LayerContext, value: Value): Value {
  return applyActivation(ctx, value, configValue(ctx, 'activation'), `${ctx.call.name}/activation`);
}

// ---------- convolutions ----------

interface ConvEmission {
  input: Value;
  kernel: FloatInitializer;
  bias: FloatInitializer | undefined;
  attributes: Parameters<GraphBuilder['node']>[2];
  outShape: number[];
  opType: 'Conv' | 'ConvTranspose';
  outChannelAxis: number;
}

/** Emits the conv node, registers it for BN folding when no activation follows, then applies the activation. */
function emitConv(ctx: LayerContext, emission: ConvEmission): Value {
  const inputs = [emission.input.name, emission.kernel.name];
  if (emission.bias) inputs.push(emission.bias.name);
  const name = ctx.builder.node(emission.opType, inputs, emission.attributes, ctx.call.name);
  const node = ctx.builder.producerOf(name) as NodeSpec;
  const convValue: Value = { name, shape: emission.outShape };
  const activation = configValue(ctx, 'activation') ?? 'linear';
  if (activation === 'linear') {
    ctx.registerFoldable({
      node,
      kernel: emission.kernel,
      bias: emission.bias,
      outChannelAxis: emission.outChannelAxis,
      outChannels: emission.outShape[2],
    });
  }
  return fusedActivation(ctx, convValue);
}

function biasInitializer(ctx: LayerContext, channels: number): FloatInitializer | undefined {
  if (!booleanConfig(ctx, ['use_bias', 'useBias'], true)) return undefined;
  const bias = ctx.weight('bias', [channels]);
  return ctx.builder.floatConst(`${ctx.call.name}/bias`, bias.values, [channels]);
}

function convAttributes(kernel: [number, number], strides: [number, number], dilations: [number, number], pads: number[], group = 1) {
  return [
    attr.ints('kernel_shape', kernel),
    attr.ints('strides', strides),
    attr.ints('dilations', dilations),
    attr.ints('pads', pads),
    attr.int('group', group),
  ];
}

function stridesAndDilations(ctx: LayerContext): { strides: [number, number]; dilations: [number, number] } {
  const strides = intPair(ctx, 'strides', [1, 1]);
  const dilations = intPair(ctx, 'dilation_rate', [1, 1]);
  if (strides.some((s) => s < 1) || dilations.some((d) => d < 1)) throw layerError(ctx.call, 'strides and dilation_rate must be >= 1');
  if (strides.some((s) => s > 1) && dilations.some((d) => d > 1)) {
    throw layerError(ctx.call, 'strides > 1 together with dilation_rate > 1 is not supported (TF.js rejects it too)');
  }
  return { strides, dilations };
}

const conv2d: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const input = imageInput(ctx);
  const [h, w, cin] = input.shape;
  const filters = positiveInt(ctx, 'filters');
  const kernelSize = intPair(ctx, 'kernel_size');
  const { strides, dilations } = stridesAndDilations(ctx);
  const padding = paddingMode(ctx);
  const kernel = ctx.weight('kernel', [kernelSize[0], kernelSize[1], cin, filters]);
  const rows = forwardWindow(ctx, h, kernelSize[0], strides[0], dilations[0], padding);
  const cols = forwardWindow(ctx, w, kernelSize[1], strides[1], dilations[1], padding);
  return emitConv(ctx, {
    input,
    kernel: ctx.builder.floatConst(`${ctx.call.name}/kernel`, permute(kernel.values, kernel.shape, [3, 2, 0, 1]), [filters, cin, ...kernelSize]),
    bias: biasInitializer(ctx, filters),
    attributes: convAttributes(kernelSize, strides, dilations, [rows.padBegin, cols.padBegin, rows.padEnd, cols.padEnd]),
    outShape: [rows.out, cols.out, filters],
    opType: 'Conv',
    outChannelAxis: 0,
  });
};

/** Explicit pads / output_padding so ConvTranspose reproduces TF.js's deconvLength and its conv-gradient alignment. */
function transposeWindow(size: number, kernel: number, stride: number, padding: 'same' | 'valid') {
  const out = padding === 'valid' ? size * stride + Math.max(kernel - stride, 0) : size * stride;
  const total = padding === 'valid' ? 0 : Math.max((size - 1) * stride + kernel - out, 0);
  const padBegin = Math.floor(total / 2);
  const padEnd = total - padBegin;
  const outputPadding = out - ((size - 1) * stride + kernel - total);
  return { out, padBegin, padEnd, outputPadding };
}

const conv2dTranspose: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const input = imageInput(ctx);
  const [h, w, cin] = input.shape;
  const filters = positiveInt(ctx, 'filters');
  const kernelSize = intPair(ctx, 'kernel_size');
  const strides = intPair(ctx, 'strides', [1, 1]);
  const dilations = intPair(ctx, 'dilation_rate', [1, 1]);
  if (dilations.some((d) => d !== 1)) throw layerError(ctx.call, 'dilation_rate != 1 is not supported for Conv2DTranspose');
  const padding = paddingMode(ctx);
  const kernel = ctx.weight('kernel', [kernelSize[0], kernelSize[1], filters, cin]);
  const rows = transposeWindow(h, kernelSize[0], strides[0], padding);
  const cols = transposeWindow(w, kernelSize[1], strides[1], padding);
  if (rows.outputPadding < 0 || cols.outputPadding < 0 || rows.outputPadding >= Math.max(strides[0], 1) || cols.outputPadding >= Math.max(strides[1], 1)) {
    throw layerError(ctx.call, `cannot express TF.js output size with ONNX ConvTranspose (output_padding ${rows.outputPadding},${cols.outputPadding})`);
  }
  return emitConv(ctx, {
    input,
    kernel: ctx.builder.floatConst(`${ctx.call.name}/kernel`, permute(kernel.values, kernel.shape, [3, 2, 0, 1]), [cin, filters, ...kernelSize]),
    bias: biasInitializer(ctx, filters),
    attributes: [
      attr.ints('kernel_shape', kernelSize),
      attr.ints('strides', strides),
      attr.ints('pads', [rows.padBegin, cols.padBegin, rows.padEnd, cols.padEnd]),
      attr.ints('output_padding', [rows.outputPadding, cols.outputPadding]),
    ],
    outShape: [rows.out, cols.out, filters],
    opType: 'ConvTranspose',
    outChannelAxis: 1,
  });
};

function depthwiseKernel(ctx: LayerContext, kernelSize: [number, number], cin: number, multiplier: number, name = 'depthwise_kernel'): Float32Array {
  const kernel = ctx.weight(name, [kernelSize[0], kernelSize[1], cin, multiplier]);
  // [kh, kw, in, mult] -> [in, mult, kh, kw] = [in*mult, 1, kh, kw]; TF's output channel is c*mult+m.
  return permute(kernel.values, kernel.shape, [2, 3, 0, 1]);
}

const depthwiseConv2d: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const input = imageInput(ctx);
  const [h, w, cin] = input.shape;
  const multiplier = positiveInt(ctx, 'depth_multiplier', 1);
  const kernelSize = intPair(ctx, 'kernel_size');
  const { strides, dilations } = stridesAndDilations(ctx);
  const padding = paddingMode(ctx);
  const rows = forwardWindow(ctx, h, kernelSize[0], strides[0], dilations[0], padding);
  const cols = forwardWindow(ctx, w, kernelSize[1], strides[1], dilations[1], padding);
  const outChannels = cin * multiplier;
  return emitConv(ctx, {
    input,
    kernel: ctx.builder.floatConst(`${ctx.call.name}/kernel`, depthwiseKernel(ctx, kernelSize, cin, multiplier), [outChannels, 1, ...kernelSize]),
    bias: biasInitializer(ctx, outChannels),
    attributes: convAttributes(kernelSize, strides, dilations, [rows.padBegin, cols.padBegin, rows.padEnd, cols.padEnd], cin),
    outShape: [rows.out, cols.out, outChannels],
    opType: 'Conv',
    outChannelAxis: 0,
  });
};

const separableConv2d: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const input = imageInput(ctx);
  const [h, w, cin] = input.shape;
  // tfjs-layers 4.22 leaves depth_multiplier out of SeparableConv2D's config; the weights carry it.
  const multiplier = configValue(ctx, 'depth_multiplier') === undefined
    ? (ctx.weight('depthwise_kernel').shape[3] ?? 1)
    : positiveInt(ctx, 'depth_multiplier');
  const filters = positiveInt(ctx, 'filters');
  const kernelSize = intPair(ctx, 'kernel_size');
  const { strides, dilations } = stridesAndDilations(ctx);
  const padding = paddingMode(ctx);
  const rows = forwardWindow(ctx, h, kernelSize[0], strides[0], dilations[0], padding);
  const cols = forwardWindow(ctx, w, kernelSize[1], strides[1], dilations[1], padding);
  const mid = cin * multiplier;
  const b = ctx.builder;
  const depthwise = b.floatConst(`${ctx.call.name}/depthwise_kernel`, depthwiseKernel(ctx, kernelSize, cin, multiplier), [mid, 1, ...kernelSize]);
  const depthOut = b.node('Conv', [input.name, depthwise.name], convAttributes(kernelSize, strides, dilations, [rows.padBegin, cols.padBegin, rows.padEnd, cols.padEnd], cin), `${ctx.call.name}/depthwise`);
  const pointwise = ctx.weight('pointwise_kernel', [1, 1, mid, filters]);
  return emitConv(ctx, {
    input: { name: depthOut, shape: [rows.out, cols.out, mid] },
    kernel: b.floatConst(`${ctx.call.name}/pointwise_kernel`, permute(pointwise.values, pointwise.shape, [3, 2, 0, 1]), [filters, mid, 1, 1]),
    bias: biasInitializer(ctx, filters),
    attributes: convAttributes([1, 1], [1, 1], [1, 1], [0, 0, 0, 0]),
    outShape: [rows.out, cols.out, filters],
    opType: 'Conv',
    outChannelAxis: 0,
  });
};

/** Neighbour order of the convention: row-major over the 3x3 window, centre skipped. */
const NEIGHBOUR_OFFSETS: Array<[number, number]> = [
  [-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1],
];

const neighborConv2d: LayerConverter = (ctx) => {
  const input = imageInput(ctx);
  const [h, w, cin] = input.shape;
  const units = positiveInt(ctx, 'units');
  const kernel = ctx.weight('kernel', [8, cin, units]);
  const weights = new Float32Array(units * cin * 9);
  for (let n = 0; n < 8; n += 1) {
    const [dy, dx] = NEIGHBOUR_OFFSETS[n];
    const tap = (1 + dy) * 3 + (1 + dx);
    for (let c = 0; c < cin; c += 1) {
      for (let u = 0; u < units; u += 1) weights[(u * cin + c) * 9 + tap] = kernel.values[(n * cin + c) * units + u];
    }
  }
  return emitConv(ctx, {
    input,
    kernel: ctx.builder.floatConst(`${ctx.call.name}/kernel`, weights, [units, cin, 3, 3]),
    bias: biasInitializer(ctx, units),
    attributes: convAttributes([3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
    outShape: [h, w, units],
    opType: 'Conv',
    outChannelAxis: 0,
  });
};

// ---------- normalization ----------

const batchNormalization: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  const rank = input.shape.length;
  const rawAxis = configValue(ctx, 'axis') ?? -1;
  // Keras 2.2 serializes the axis as a one-element list ([3]); tfjs-layers reads it as that number.
  const axis = Array.isArray(rawAxis) && rawAxis.length === 1 ? rawAxis[0] : rawAxis;
  if (axis !== -1 && axis !== rank) throw layerError(ctx.call, `axis ${JSON.stringify(rawAxis)} is not supported (only the last, channel axis)`);
  if (rank !== 3 && rank !== 1) throw layerError(ctx.call, `input of shape ${JSON.stringify(input.shape)} is not supported (images [H,W,C] or vectors [C])`);
  const channels = input.shape[rank - 1];
  const epsilon = numberConfig(ctx, 'epsilon', 1e-3);
  const center = booleanConfig(ctx, ['center'], true);
  const scale = booleanConfig(ctx, ['scale'], true);
  const gamma = scale ? ctx.weight('gamma', [channels]).values : new Float32Array(channels).fill(1);
  const beta = center ? ctx.weight('beta', [channels]).values : new Float32Array(channels);
  const mean = ctx.weight('moving_mean', [channels]).values;
  const variance = ctx.weight('moving_variance', [channels]).values;

  const conv = ctx.foldableInput();
  if (conv && conv.outChannels === channels) {
    const kernel = conv.kernel;
    const dims = kernel.dims;
    const inner = dims.slice(conv.outChannelAxis + 1).reduce((a, b) => a * b, 1);
    const outer = dims.slice(0, conv.outChannelAxis).reduce((a, b) => a * b, 1);
    const factor = Array.from({ length: channels }, (_, c) => gamma[c] / Math.sqrt(variance[c] + epsilon));
    for (let o = 0; o < outer; o += 1) {
      for (let c = 0; c < channels; c += 1) {
        const start = (o * channels + c) * inner;
        for (let i = start; i < start + inner; i += 1) kernel.values[i] = kernel.values[i] * factor[c];
      }
    }
    const foldedBias = Float32Array.from({ length: channels }, (_, c) => ((conv.bias ? conv.bias.values[c] : 0) - mean[c]) * factor[c] + beta[c]);
    if (conv.bias) conv.bias.values.set(foldedBias);
    else conv.node.input.push(ctx.builder.floatConst(`${conv.node.output[0]}/bias`, foldedBias, [channels]).name);
    ctx.countFoldedBatchNorm();
    return input;
  }
  const b = ctx.builder;
  const base = ctx.call.name;
  const inputs = [
    input.name,
    b.floatConst(`${base}/gamma`, gamma, [channels]).name,
    b.floatConst(`${base}/beta`, beta, [channels]).name,
    b.floatConst(`${base}/moving_mean`, mean, [channels]).name,
    b.floatConst(`${base}/moving_variance`, variance, [channels]).name,
  ];
  return { name: b.node('BatchNormalization', inputs, [attr.float('epsilon', epsilon)], base), shape: input.shape };
};

// ---------- activation layers ----------

const activationLayer: LayerConverter = (ctx) => applyActivation(ctx, singleInput(ctx), configValue(ctx, 'activation'));

const reluLayer: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  const maxValue = configValue(ctx, 'max_value', 'maxValue');
  if (maxValue === undefined) return { name: ctx.builder.node('Relu', [input.name], [], ctx.call.name), shape: input.shape };
  if (typeof maxValue !== 'number') throw layerError(ctx.call, `max_value must be a number, got ${JSON.stringify(maxValue)}`);
  const inputs = [input.name, scalar(ctx, `${ctx.call.name}/min`, 0), scalar(ctx, `${ctx.call.name}/max`, maxValue)];
  return { name: ctx.builder.node('Clip', inputs, [], ctx.call.name), shape: input.shape };
};

const leakyReluLayer: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  const alpha = numberConfig(ctx, 'alpha', 0.3);
  return { name: ctx.builder.node('LeakyRelu', [input.name], [attr.float('alpha', alpha)], ctx.call.name), shape: input.shape };
};

const eluLayer: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  const alpha = numberConfig(ctx, 'alpha', 1);
  return { name: ctx.builder.node('Elu', [input.name], [attr.float('alpha', alpha)], ctx.call.name), shape: input.shape };
};

const thresholdedReluLayer: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  const theta = numberConfig(ctx, 'theta', 1);
  return { name: ctx.builder.node('ThresholdedRelu', [input.name], [attr.float('alpha', theta)], ctx.call.name), shape: input.shape };
};

const softmaxLayer: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  // tfjs-layers' Softmax layer defaults to axis 1 (unlike the softmax activation's -1).
  const axis = onnxAxis(ctx, configValue(ctx, 'axis') ?? 1, input.shape.length);
  return { name: ctx.builder.node('Softmax', [input.name], [attr.int('axis', axis)], ctx.call.name), shape: input.shape };
};

/** TF axis (counting the batch, negative from the end) -> axis of the ONNX value. */
function onnxAxis(ctx: LayerContext, rawAxis: unknown, rank: number): number {
  if (typeof rawAxis !== 'number' || !Number.isInteger(rawAxis)) throw layerError(ctx.call, `axis must be an integer, got ${JSON.stringify(rawAxis)}`);
  const tfAxis = rawAxis < 0 ? rank + 1 + rawAxis : rawAxis;
  if (tfAxis < 1 || tfAxis > rank) throw layerError(ctx.call, `axis ${rawAxis} is out of range for inputs of rank ${rank + 1} (or is the batch axis)`);
  return rank === 3 ? [0, 2, 3, 1][tfAxis] : tfAxis;
}

// ---------- pooling and resampling ----------

function pooling(opType: 'MaxPool' | 'AveragePool'): LayerConverter {
  return (ctx) => {
    requireChannelsLast(ctx);
    const input = imageInput(ctx);
    const [h, w, c] = input.shape;
    const poolSize = intPair(ctx, 'pool_size', [2, 2]);
    const strides = intPair(ctx, 'strides', poolSize);
    const padding = paddingMode(ctx);
    const rows = forwardWindow(ctx, h, poolSize[0], strides[0], 1, padding);
    const cols = forwardWindow(ctx, w, poolSize[1], strides[1], 1, padding);
    const attributes = [
      attr.ints('kernel_shape', poolSize),
      attr.ints('strides', strides),
      attr.ints('pads', [rows.padBegin, cols.padBegin, rows.padEnd, cols.padEnd]),
    ];
    // TF averages over the valid (unpadded) cells only.
    if (opType === 'AveragePool') attributes.push(attr.int('count_include_pad', 0));
    return { name: ctx.builder.node(opType, [input.name], attributes, ctx.call.name), shape: [rows.out, cols.out, c] };
  };
}

function globalPooling(opType: 'GlobalAveragePool' | 'GlobalMaxPool'): LayerConverter {
  return (ctx) => {
    requireChannelsLast(ctx);
    const input = imageInput(ctx);
    const channels = input.shape[2];
    const pooled = ctx.builder.node(opType, [input.name], [], `${ctx.call.name}/pool`);
    if (configValue(ctx, 'keepdims', 'keepDims') === true) return { name: pooled, shape: [1, 1, channels] };
    return { name: ctx.builder.node('Flatten', [pooled], [attr.int('axis', 1)], ctx.call.name), shape: [channels] };
  };
}

const upSampling2d: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const input = imageInput(ctx);
  const [h, w, c] = input.shape;
  const [sh, sw] = intPair(ctx, 'size', [2, 2]);
  const interpolation = configValue(ctx, 'interpolation') ?? 'nearest';
  // tf.image.resize{NearestNeighbor,Bilinear} as UpSampling2D calls them (alignCorners=false,
  // halfPixelCenters=false): source = dest * in/out, nearest rounds down.
  let attributes;
  if (interpolation === 'nearest') {
    attributes = [attr.string('mode', 'nearest'), attr.string('coordinate_transformation_mode', 'asymmetric'), attr.string('nearest_mode', 'floor')];
  } else if (interpolation === 'bilinear') {
    attributes = [attr.string('mode', 'linear'), attr.string('coordinate_transformation_mode', 'asymmetric')];
  } else {
    throw layerError(ctx.call, `interpolation '${String(interpolation)}' is not supported (nearest or bilinear)`);
  }
  const scales = ctx.builder.floatConst(`${ctx.call.name}/scales`, [1, 1, sh, sw], [4], true).name;
  return { name: ctx.builder.node('Resize', [input.name, '', scales], attributes, ctx.call.name), shape: [h * sh, w * sw, c] };
};

function padPairs(ctx: LayerContext, key: string): [[number, number], [number, number]] {
  const value = configValue(ctx, key) ?? 1;
  let pairs: unknown;
  if (typeof value === 'number') pairs = [[value, value], [value, value]];
  else if (Array.isArray(value) && value.every((v) => typeof v === 'number')) pairs = [[value[0], value[0]], [value[1], value[1]]];
  else pairs = value;
  const ok = Array.isArray(pairs) && pairs.length === 2 && pairs.every((p) => Array.isArray(p) && p.length === 2 && p.every((v) => Number.isInteger(v) && v >= 0));
  if (!ok) throw layerError(ctx.call, `config.${key} must be an int, [rows, cols] or [[top, bottom], [left, right]], got ${JSON.stringify(value)}`);
  return pairs as [[number, number], [number, number]];
}

const zeroPadding2d: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const input = imageInput(ctx);
  const [[top, bottom], [left, right]] = padPairs(ctx, 'padding');
  const [h, w, c] = input.shape;
  const pads = ctx.builder.int64Const(`${ctx.call.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
  return { name: ctx.builder.node('Pad', [input.name, pads], [attr.string('mode', 'constant')], ctx.call.name), shape: [h + top + bottom, w + left + right, c] };
};

const cropping2d: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const input = imageInput(ctx);
  const [[top, bottom], [left, right]] = padPairs(ctx, 'cropping');
  const [h, w, c] = input.shape;
  if (top + bottom >= h || left + right >= w) throw layerError(ctx.call, `cropping ${JSON.stringify([[top, bottom], [left, right]])} leaves nothing of a ${h}x${w} input`);
  const b = ctx.builder;
  const inputs = [
    input.name,
    b.int64Const(`${ctx.call.name}/starts`, [top, left]),
    b.int64Const(`${ctx.call.name}/ends`, [h - bottom, w - right]),
    b.int64Const(`${ctx.call.name}/axes`, [2, 3]),
  ];
  return { name: b.node('Slice', inputs, [], ctx.call.name), shape: [h - top - bottom, w - left - right, c] };
};

// ---------- merging ----------

function sameShapes(ctx: LayerContext): number[] {
  if (ctx.inputs.length < 2) throw layerError(ctx.call, `expected at least two inputs, got ${ctx.inputs.length}`);
  const shape = ctx.inputs[0].shape;
  for (const other of ctx.inputs) {
    if (JSON.stringify(other.shape) !== JSON.stringify(shape)) {
      throw layerError(ctx.call, `inputs of different shapes (${ctx.inputs.map((i) => JSON.stringify(i.shape)).join(' vs ')}) are not supported`);
    }
  }
  return shape;
}

function variadic(opType: 'Sum' | 'Mean' | 'Max' | 'Min'): LayerConverter {
  return (ctx) => ({ name: ctx.builder.node(opType, ctx.inputs.map((i) => i.name), [], ctx.call.name), shape: sameShapes(ctx) });
}

const multiply: LayerConverter = (ctx) => {
  const shape = sameShapes(ctx);
  let product = ctx.inputs[0].name;
  for (let i = 1; i < ctx.inputs.length; i += 1) {
    product = ctx.builder.node('Mul', [product, ctx.inputs[i].name], [], i === ctx.inputs.length - 1 ? ctx.call.name : `${ctx.call.name}/partial`);
  }
  return { name: product, shape };
};

const concatenate: LayerConverter = (ctx) => {
  if (ctx.inputs.length < 2) throw layerError(ctx.call, `expected at least two inputs, got ${ctx.inputs.length}`);
  const rank = ctx.inputs[0].shape.length;
  const rawAxis = configValue(ctx, 'axis') ?? -1;
  if (typeof rawAxis !== 'number' || !Number.isInteger(rawAxis)) throw layerError(ctx.call, `axis must be an integer, got ${JSON.stringify(rawAxis)}`);
  // TF axis counts the batch dimension: 1..rank; negative from the end.
  const tfAxis = rawAxis < 0 ? rank + 1 + rawAxis : rawAxis;
  if (tfAxis < 1 || tfAxis > rank) throw layerError(ctx.call, `axis ${rawAxis} is out of range for inputs of rank ${rank + 1} (or concatenates the batch)`);
  const shape = [...ctx.inputs[0].shape];
  shape[tfAxis - 1] = 0;
  for (const input of ctx.inputs) {
    if (input.shape.length !== rank || input.shape.some((d, i) => i !== tfAxis - 1 && d !== ctx.inputs[0].shape[i])) {
      throw layerError(ctx.call, `inputs ${ctx.inputs.map((i) => JSON.stringify(i.shape)).join(', ')} do not match outside axis ${rawAxis}`);
    }
    shape[tfAxis - 1] += input.shape[tfAxis - 1];
  }
  const onnxAxis = rank === 3 ? [0, 2, 3, 1][tfAxis] : tfAxis;
  return { name: ctx.builder.node('Concat', ctx.inputs.map((i) => i.name), [attr.int('axis', onnxAxis)], ctx.call.name), shape };
};

// ---------- dense and reshaping ----------

const dense: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  const units = positiveInt(ctx, 'units');
  const features = input.shape[input.shape.length - 1];
  const kernel = ctx.weight('kernel', [features, units]);
  const b = ctx.builder;
  const base = ctx.call.name;
  const useBias = booleanConfig(ctx, ['use_bias', 'useBias'], true);
  const weightName = b.floatConst(`${base}/kernel`, kernel.values, [features, units]).name;
  const biasName = useBias ? b.floatConst(`${base}/bias`, ctx.weight('bias', [units]).values, [units]).name : undefined;
  const outShape = [...input.shape.slice(0, -1), units];
  let result: string;
  if (input.shape.length === 1) {
    result = b.node('Gemm', biasName ? [input.name, weightName, biasName] : [input.name, weightName], [], `${base}/dense`);
  } else {
    // Dense acts on the last TF axis: for images that is C, so go through NHWC.
    const source = input.shape.length === 3 ? b.node('Transpose', [input.name], [attr.ints('perm', [0, 2, 3, 1])], `${base}/to_nhwc`) : input.name;
    let product = b.node('MatMul', [source, weightName], [], `${base}/matmul`);
    if (biasName) product = b.node('Add', [product, biasName], [], `${base}/bias_add`);
    result = input.shape.length === 3 ? b.node('Transpose', [product], [attr.ints('perm', [0, 3, 1, 2])], `${base}/to_nchw`) : product;
  }
  return applyActivation(ctx, { name: result, shape: outShape }, configValue(ctx, 'activation'), `${base}/activation`);
};

/** The TF.js element order of a value: NCHW images are transposed back to NHWC. */
function inTfOrder(ctx: LayerContext, input: Value): string {
  if (input.shape.length !== 3) return input.name;
  return ctx.builder.node('Transpose', [input.name], [attr.ints('perm', [0, 2, 3, 1])], `${ctx.call.name}/to_nhwc`);
}

const flatten: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const input = singleInput(ctx);
  if (input.shape.length === 1) return input;
  const size = input.shape.reduce((a, b) => a * b, 1);
  return { name: ctx.builder.node('Flatten', [inTfOrder(ctx, input)], [attr.int('axis', 1)], ctx.call.name), shape: [size] };
};

const reshape: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  const target = configValue(ctx, 'target_shape', 'targetShape');
  if (!Array.isArray(target) || target.length === 0 || !target.every((d) => d === null || (Number.isInteger(d) && (d > 0 || d === -1)))) {
    throw layerError(ctx.call, `target_shape must be a list of positive integers (one may be -1), got ${JSON.stringify(target)}`);
  }
  // tf.io writes -1 as null.
  const normalized = target.map((d) => (d === null ? -1 : (d as number)));
  const size = input.shape.reduce((a, b) => a * b, 1);
  const known = normalized.filter((d) => d > 0).reduce((a, b) => a * b, 1);
  const unknownCount = normalized.filter((d) => d === -1).length;
  if (unknownCount > 1 || (unknownCount === 0 && known !== size) || size % known !== 0) {
    throw layerError(ctx.call, `cannot reshape ${JSON.stringify(input.shape)} (${size} values) to ${JSON.stringify(target)}`);
  }
  const shape = normalized.map((d) => (d === -1 ? size / known : d));
  const b = ctx.builder;
  const shapeName = b.int64Const(`${ctx.call.name}/shape`, [0, ...shape]);
  const reshaped = b.node('Reshape', [inTfOrder(ctx, input), shapeName], [], shape.length === 3 ? `${ctx.call.name}/nhwc` : ctx.call.name);
  if (shape.length !== 3) return { name: reshaped, shape };
  return { name: b.node('Transpose', [reshaped], [attr.ints('perm', [0, 3, 1, 2])], ctx.call.name), shape };
};

// ---------- dropout family and custom layers ----------

function inferenceIdentity(what: string): LayerConverter {
  return (ctx) => {
    const input = singleInput(ctx);
    ctx.warn(`layer '${ctx.call.name}' (${ctx.call.className}) is ${what} at inference and was exported as identity`);
    return input;
  };
}

const mcDropout: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  const rate = numberConfig(ctx, 'rate', Number.NaN);
  if (!(rate >= 0 && rate < 1)) throw layerError(ctx.call, `rate must be in [0, 1), got ${JSON.stringify(configValue(ctx, 'rate'))}`);
  const physical = input.shape.length === 3 ? [input.shape[2], input.shape[0], input.shape[1]] : input.shape;
  const mask = ctx.mcMaskInput(rate, physical);
  return { name: ctx.builder.node('Mul', [input.name, mask], [], ctx.call.name), shape: input.shape };
};

const vaeSampling: LayerConverter = (ctx) => {
  if (ctx.inputs.length !== 2) throw layerError(ctx.call, `expected inputs [mean, logVar], got ${ctx.inputs.length} inputs`);
  const [mean, logVar] = ctx.inputs;
  if (JSON.stringify(mean.shape) !== JSON.stringify(logVar.shape)) {
    throw layerError(ctx.call, `mean ${JSON.stringify(mean.shape)} and logVar ${JSON.stringify(logVar.shape)} differ in shape`);
  }
  // At inference the sample is its mean: no noise in the deployed model.
  return mean;
};

export const LAYER_CONVERTERS: Record<string, LayerConverter> = {
  Conv2D: conv2d,
  Conv2DTranspose: conv2dTranspose,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  NeighborConv2D: neighborConv2d,
  BatchNormalization: batchNormalization,
  Activation: activationLayer,
  ReLU: reluLayer,
  LeakyReLU: leakyReluLayer,
  ELU: eluLayer,
  ThresholdedReLU: thresholdedReluLayer,
  Softmax: softmaxLayer,
  MaxPooling2D: pooling('MaxPool'),
  AveragePooling2D: pooling('AveragePool'),
  GlobalAveragePooling2D: globalPooling('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPooling('GlobalMaxPool'),
  UpSampling2D: upSampling2d,
  ZeroPadding2D: zeroPadding2d,
  Cropping2D: cropping2d,
  Concatenate: concatenate,
  Add: variadic('Sum'),
  Average: variadic('Mean'),
  Maximum: variadic('Max'),
  Minimum: variadic('Min'),
  Multiply: multiply,
  Dense: dense,
  Flatten: flatten,
  Reshape: reshape,
  Dropout: inferenceIdentity('inactive'),
  SpatialDropout1D: inferenceIdentity('inactive'),
  GaussianNoise: inferenceIdentity('inactive'),
  GaussianDropout: inferenceIdentity('inactive'),
  AlphaDropout: inferenceIdentity('inactive'),
  McDropout: mcDropout,
  VaeSampling: vaeSampling,
};
