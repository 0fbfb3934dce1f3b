/** Residuum's own layers (@residuum/train): NeighborConv2D (NCAE), McDropout (AESc), VaeSampling (VAE), NearestNeighbourDistance (PatchCore). */
import { NEIGHBOR_OFFSETS } from '@residuum/scoring';
import { layerError } from '../errors.js';
import { configValue, imageInput, type LayerConverter, type LayerRegistry, numberConfig, positiveInt, singleInput } from './context.js';
import { appendNearestNeighbourHead, NEAREST_NEIGHBOUR_CHUNK } from '../nearest-neighbour-head.js';
import { biasInitializer, convAttributes, emitConv } from './convolution.js';

const neighborConv2d: LayerConverter = (ctx) => {
  const input = imageInput(ctx);
  const [h, w, cin] = input.shape;
  const units = positiveInt(ctx, 'units');
  const kernel = ctx.weight('kernel', [8, cin, units]);
  const weights = new Float32Array(units * cin * 9);
  for (let n = 0; n < 8; n += 1) {
    const [dy, dx] = NEIGHBOR_OFFSETS[n];
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

/**
 * PatchCore's memory bank: the distance of each patch to its nearest bank entry, the converter's
 * nearest-neighbour head (min squared distance over bank chunks) followed by Sqrt, as the layer computes it.
 */
const nearestNeighbourDistance: LayerConverter = (ctx) => {
  const input = imageInput(ctx);
  const [h, w, channels] = input.shape;
  // tfjs-layers writes config keys in snake_case.
  const bankSize = positiveInt(ctx, 'bank_size');
  const bank = ctx.weight('bank', [bankSize, channels]);
  const chunkSize = positiveInt(ctx, 'chunk_size', NEAREST_NEIGHBOUR_CHUNK);
  const squared = appendNearestNeighbourHead(ctx.builder, input.name, { height: h, width: w }, { values: bank.values, size: bankSize, dim: channels }, { chunkSize, name: ctx.call.name });
  return { name: ctx.builder.node('Sqrt', [squared], [], ctx.call.name), shape: [h, w, 1] };
};

export const RESIDUUM_LAYERS: LayerRegistry = {
  NeighborConv2D: neighborConv2d,
  McDropout: mcDropout,
  VaeSampling: vaeSampling,
  NearestNeighbourDistance: nearestNeighbourDistance,
};
