/** Pooling and resampling: (global) max / average pooling, UpSampling2D, ZeroPadding2D, Cropping2D. */
import { layerError } from '../errors.js';
import { attr } from '../onnx-model.js';
import { configValue, forwardWindow, imageInput, intPair, type LayerContext, type LayerConverter, type LayerRegistry, paddingMode, requireChannelsLast } from './context.js';

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

export const POOLING_LAYERS: LayerRegistry = {
  MaxPooling2D: pooling('MaxPool'),
  AveragePooling2D: pooling('AveragePool'),
  GlobalAveragePooling2D: globalPooling('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPooling('GlobalMaxPool'),
  UpSampling2D: upSampling2d,
  ZeroPadding2D: zeroPadding2d,
  Cropping2D: cropping2d,
};
