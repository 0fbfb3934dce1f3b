/** TF.js activations (the serialized `activation` of a layer) and the activation layers. */
import { layerError } from '../errors.js';
import { attr } from '../onnx-model.js';
import { configValue, type LayerContext, type LayerConverter, type LayerRegistry, numberConfig, onnxAxisOf, scalar, singleInput, tfAxis, type Value } from './context.js';

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

export function fusedActivation(ctx: LayerContext, value: Value): Value {
  return applyActivation(ctx, value, configValue(ctx, 'activation'), `${ctx.call.name}/activation`);
}

const activationLayer: LayerConverter = (ctx) => applyActivation(ctx, singleInput(ctx), configValue(ctx, 'activation'));

const reluLayer: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  const maxValue = configValue(ctx, 'max_value', 'maxValue');
  if (maxValue === undefined) return { name: ctx.builder.node('Relu', [input.name], [], ctx.call.name), shape: input.shape };
  if (typeof maxValue !== 'number') throw layerError(ctx.call, `max_value must be a number, got ${JSON.stringify(maxValue)}`);
  const inputs = [input.name, scalar(ctx, `${ctx.call.name}/min`, 0), scalar(ctx, `${ctx.call.name}/max`, maxValue)];
  return { name: ctx.builder.node('Clip', inputs, [], ctx.call.name), shape: input.shape };
};

/** A one-parameter activation layer: config `key` (default `fallback`) becomes the op's `alpha`. */
function alphaLayer(opType: 'LeakyRelu' | 'Elu' | 'ThresholdedRelu', key: string, fallback: number): LayerConverter {
  return (ctx) => {
    const input = singleInput(ctx);
    const alpha = numberConfig(ctx, key, fallback);
    return { name: ctx.builder.node(opType, [input.name], [attr.float('alpha', alpha)], ctx.call.name), shape: input.shape };
  };
}

const softmaxLayer: LayerConverter = (ctx) => {
  const input = singleInput(ctx);
  // tfjs-layers' Softmax layer defaults to axis 1 (unlike the softmax activation's -1).
  const rank = input.shape.length;
  const axis = onnxAxisOf(tfAxis(ctx, configValue(ctx, 'axis') ?? 1, rank), rank);
  return { name: ctx.builder.node('Softmax', [input.name], [attr.int('axis', axis)], ctx.call.name), shape: input.shape };
};


export const ACTIVATION_LAYERS: LayerRegistry = {
  Activation: activationLayer,
  ReLU: reluLayer,
  LeakyReLU: alphaLayer('LeakyRelu', 'alpha', 0.3),
  ELU: alphaLayer('Elu', 'alpha', 1),
  ThresholdedReLU: alphaLayer('ThresholdedRelu', 'theta', 1),
  Softmax: softmaxLayer,
};
