/** Convolutions: Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D (kernels permuted to ONNX OIHW / IOHW). */
import { layerError } from '../errors.js';
import { type FloatInitializer, type GraphBuilder, permute } from '../graph-builder.js';
import { attr, type NodeSpec } from '../onnx-model.js';
import { fusedActivation } from './activations.js';
import {
  booleanConfig,
  configValue,
  forwardWindow,
  imageInput,
  intPair,
  type LayerContext,
  type LayerConverter,
  type LayerRegistry,
  paddingMode,
  positiveInt,
  requireChannelsLast,
  type Value,
} from './context.js';

export interface ConvEmission {
  input: Value;
  kernel: FloatInitializer;
  bias: FloatInitializer | undefined;
  attributes: Parameters<GraphBuilder['node']>[2];
  outShape: number[];
  opType: 'Conv' | 'ConvTranspose';
  outChannelAxis: number;
}

/** Emits the conv node, registers it for BN folding when no activation follows, then applies the activation. */
export function emitConv(ctx: LayerContext, emission: ConvEmission): Value {
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

export function biasInitializer(ctx: LayerContext, channels: number): FloatInitializer | undefined {
  if (!booleanConfig(ctx, ['use_bias', 'useBias'], true)) return undefined;
  const bias = ctx.weight('bias', [channels]);
  return ctx.builder.floatConst(`${ctx.call.name}/bias`, bias.values, [channels]);
}

export function convAttributes(kernel: [number, number], strides: [number, number], dilations: [number, number], pads: number[], group = 1) {
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

/** Kernel, strides, dilations and TF's output size and pads of a sliding-window layer over `input`. */
function slidingWindow(ctx: LayerContext, input: Value) {
  const [h, w] = input.shape;
  const kernelSize = intPair(ctx, 'kernel_size');
  const { strides, dilations } = stridesAndDilations(ctx);
  const padding = paddingMode(ctx);
  const rows = forwardWindow(ctx, h, kernelSize[0], strides[0], dilations[0], padding);
  const cols = forwardWindow(ctx, w, kernelSize[1], strides[1], dilations[1], padding);
  return { kernelSize, strides, dilations, rows, cols, pads: [rows.padBegin, cols.padBegin, rows.padEnd, cols.padEnd] };
}

const conv2d: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const input = imageInput(ctx);
  const cin = input.shape[2];
  const filters = positiveInt(ctx, 'filters');
  const { kernelSize, strides, dilations, rows, cols, pads } = slidingWindow(ctx, input);
  const kernel = ctx.weight('kernel', [kernelSize[0], kernelSize[1], cin, filters]);
  return emitConv(ctx, {
    input,
    kernel: ctx.builder.floatConst(`${ctx.call.name}/kernel`, permute(kernel.values, kernel.shape, [3, 2, 0, 1]), [filters, cin, ...kernelSize]),
    bias: biasInitializer(ctx, filters),
    attributes: convAttributes(kernelSize, strides, dilations, pads),
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
  const cin = input.shape[2];
  const multiplier = positiveInt(ctx, 'depth_multiplier', 1);
  const { kernelSize, strides, dilations, rows, cols, pads } = slidingWindow(ctx, input);
  const outChannels = cin * multiplier;
  return emitConv(ctx, {
    input,
    kernel: ctx.builder.floatConst(`${ctx.call.name}/kernel`, depthwiseKernel(ctx, kernelSize, cin, multiplier), [outChannels, 1, ...kernelSize]),
    bias: biasInitializer(ctx, outChannels),
    attributes: convAttributes(kernelSize, strides, dilations, pads, cin),
    outShape: [rows.out, cols.out, outChannels],
    opType: 'Conv',
    outChannelAxis: 0,
  });
};

const separableConv2d: LayerConverter = (ctx) => {
  requireChannelsLast(ctx);
  const input = imageInput(ctx);
  const cin = input.shape[2];
  // tfjs-layers 4.22 leaves depth_multiplier out of SeparableConv2D's config; the weights carry it.
  const multiplier = configValue(ctx, 'depth_multiplier') === undefined
    ? (ctx.weight('depthwise_kernel').shape[3] ?? 1)
    : positiveInt(ctx, 'depth_multiplier');
  const filters = positiveInt(ctx, 'filters');
  const { kernelSize, strides, dilations, rows, cols, pads } = slidingWindow(ctx, input);
  const mid = cin * multiplier;
  const b = ctx.builder;
  const depthwise = b.floatConst(`${ctx.call.name}/depthwise_kernel`, depthwiseKernel(ctx, kernelSize, cin, multiplier), [mid, 1, ...kernelSize]);
  const depthOut = b.node('Conv', [input.name, depthwise.name], convAttributes(kernelSize, strides, dilations, pads, cin), `${ctx.call.name}/depthwise`);
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

export const CONVOLUTION_LAYERS: LayerRegistry = {
  Conv2D: conv2d,
  Conv2DTranspose: conv2dTranspose,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
};
