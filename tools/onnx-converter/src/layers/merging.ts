/** Merging layers: element-wise Add / Average / Maximum / Minimum / Multiply and Concatenate. */
import { layerError } from '../errors.js';
import { attr } from '../onnx-model.js';
import { configValue, type LayerContext, onnxAxisOf, tfAxis, type LayerConverter, type LayerRegistry } from './context.js';

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
  const axis = tfAxis(ctx, rawAxis, rank);
  const shape = [...ctx.inputs[0].shape];
  shape[axis - 1] = 0;
  for (const input of ctx.inputs) {
    if (input.shape.length !== rank || input.shape.some((d, i) => i !== axis - 1 && d !== ctx.inputs[0].shape[i])) {
      throw layerError(ctx.call, `inputs ${ctx.inputs.map((i) => JSON.stringify(i.shape)).join(', ')} do not match outside axis ${rawAxis}`);
    }
    shape[axis - 1] += input.shape[axis - 1];
  }
  return { name: ctx.builder.node('Concat', ctx.inputs.map((i) => i.name), [attr.int('axis', onnxAxisOf(axis, rank))], ctx.call.name), shape };
};

export const MERGING_LAYERS: LayerRegistry = {
  Concatenate: concatenate,
  Add: variadic('Sum'),
  Average: variadic('Mean'),
  Maximum: variadic('Max'),
  Minimum: variadic('Min'),
  Multiply: multiply,
};
