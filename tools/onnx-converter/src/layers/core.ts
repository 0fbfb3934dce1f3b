/** Core layers (tfjs-layers' core.ts): Dense, Flatten, Reshape and the layers that are identities at inference. */
import { layerError } from '../errors.js';
import { attr } from '../onnx-model.js';
import { applyActivation } from './activations.js';
import { booleanConfig, configValue, type LayerContext, type LayerConverter, type LayerRegistry, positiveInt, requireChannelsLast, singleInput, type Value } from './context.js';

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

function inferenceIdentity(what: string): LayerConverter {
  return (ctx) => {
    const input = singleInput(ctx);
    ctx.warn(`layer '${ctx.call.name}' (${ctx.call.className}) is ${what} at inference and was exported as identity`);
    return input;
  };
}

export const CORE_LAYERS: LayerRegistry = {
  Dense: dense,
  Flatten: flatten,
  Reshape: reshape,
  Dropout: inferenceIdentity('inactive'),
  SpatialDropout1D: inferenceIdentity('inactive'),
  GaussianNoise: inferenceIdentity('inactive'),
  GaussianDropout: inferenceIdentity('inactive'),
  AlphaDropout: inferenceIdentity('inactive'),
};
