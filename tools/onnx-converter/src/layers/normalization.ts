/** BatchNormalization: folded into the Conv before it when legal, else an ONNX BatchNormalization node. */
import { layerError } from '../errors.js';
import { attr } from '../onnx-model.js';
import { booleanConfig, configValue, type LayerConverter, type LayerRegistry, numberConfig, singleInput } from './context.js';

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

export const NORMALIZATION_LAYERS: LayerRegistry = {
  BatchNormalization: batchNormalization,
};
