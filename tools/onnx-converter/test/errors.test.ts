/** Anything the converter cannot reproduce exactly is an error naming the layer, its class and the reason. */
import { beforeAll, describe, expect, it } from 'vitest';
import { ConversionError, convertLayersModel } from '../src/index.js';
import type { ModelCard } from '@residuum/scoring';
import { sampleCard } from './helpers/card.js';
import { saveToMemory, tf, useCpuBackend } from './helpers/tfjs-harness.js';
import { functionalModelJson, type LayerJson, type WeightJson } from './helpers/topology-json.js';

beforeAll(useCpuBackend);

function convertHandwritten(layers: LayerJson[], weights: WeightJson[] = [], inputShape = [4, 4, 2], outputs = [layers[layers.length - 1].name]) {
  const model = functionalModelJson(inputShape, layers, outputs, weights);
  return () => convertLayersModel(model);
}

const conv = (config: Record<string, unknown>): LayerJson => ({
  name: 'c1',
  className: 'Conv2D',
  config: { filters: 1, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', activation: 'linear', use_bias: false, ...config },
  inputs: ['input'],
});
const kernel: WeightJson = { name: 'c1/kernel', shape: [1, 1, 2, 1], values: new Float32Array(2) };

describe('unconvertible models', () => {
  it('unsupported layer class', () => {
    expect(convertHandwritten([{ name: 'lstm_1', className: 'LSTM', config: {}, inputs: ['input'] }])).toThrow(
      "layer 'lstm_1' (LSTM): unsupported layer class",
    );
  });
  it('channels_first data format', () => {
    expect(convertHandwritten([conv({ data_format: 'channels_first' })], [kernel])).toThrow(
      "layer 'c1' (Conv2D): data_format channels_first is not supported",
    );
  });
  it('unsupported activation', () => {
    expect(convertHandwritten([conv({ activation: 'cube' })], [kernel])).toThrow("layer 'c1' (Conv2D): unsupported activation 'cube'");
  });
  it('causal padding', () => {
    expect(convertHandwritten([conv({ padding: 'causal' })], [kernel])).toThrow("layer 'c1' (Conv2D): padding 'causal' is not supported");
  });
  it('missing weight, wrong weight shape, unused weight', () => {
    expect(convertHandwritten([conv({})])).toThrow("layer 'c1' (Conv2D): weight 'c1/kernel' not found in weightsManifest");
    expect(convertHandwritten([conv({})], [{ name: 'c1/kernel', shape: [1, 1, 2, 3], values: new Float32Array(6) }])).toThrow(
      "weight 'c1/kernel' has shape [1,1,2,3], expected [1,1,2,1]",
    );
    expect(convertHandwritten([conv({})], [kernel, { name: 'c1/extra', shape: [1], values: new Float32Array(1) }])).toThrow(
      'weights not used by any converted layer (the conversion would silently drop them): c1/extra',
    );
  });
  it('weight data shorter or longer than the manifest', () => {
    const model = functionalModelJson([4, 4, 2], [conv({})], ['c1'], [kernel]);
    expect(() => convertLayersModel({ ...model, weights: model.weights.slice(0, 4) })).toThrow("weight data too short: 'c1/kernel'");
    expect(() => convertLayersModel({ ...model, weights: new Uint8Array(12) })).toThrow('weight data has 12 bytes but weightsManifest describes 8');
  });
  it('non-float32 and quantized weights', () => {
    const model = functionalModelJson([4, 4, 2], [conv({})], ['c1'], [kernel]);
    model.modelJson.weightsManifest[0].weights[0] = { ...model.modelJson.weightsManifest[0].weights[0], dtype: 'int32' };
    expect(() => convertLayersModel(model)).toThrow("weight 'c1/kernel': dtype int32 is not supported");
  });
  it('shared layer called twice', () => {
    const input = tf.input({ shape: [4, 4, 2] });
    const shared = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'shared_conv' });
    const once = shared.apply(input) as tf.SymbolicTensor;
    const twice = shared.apply(once) as tf.SymbolicTensor;
    return saveToMemory(tf.model({ inputs: input, outputs: twice })).then((artifacts) => {
      expect(() => convertLayersModel(artifacts)).toThrow("layer 'shared_conv' (Conv2D): layer is called 2 times (shared layers are not supported)");
    });
  });
  it('unknown input shape', () => {
    const model = functionalModelJson([4, 4, 2], [conv({})], ['c1'], [kernel]);
    (model.modelJson.modelTopology.config.layers[0].config as { batch_input_shape: unknown }).batch_input_shape = [null, null, null, 2];
    expect(() => convertLayersModel(model)).toThrow("layer 'input' (InputLayer): input dimensions must all be known positive integers");
  });
  it('non-image input', () => {
    const model = functionalModelJson([8], [{ name: 'd', className: 'Dense', config: { units: 1, use_bias: false }, inputs: ['input'] }], ['d'], [
      { name: 'd/kernel', shape: [8, 1], values: new Float32Array(8) },
    ]);
    expect(() => convertLayersModel(model)).toThrow("input 'input' has shape [8]; an image input [H, W, C] is required");
  });
  it('a layer on the wrong kind of tensor', () => {
    expect(convertHandwritten([
      { name: 'flat', className: 'Flatten', config: {}, inputs: ['input'] },
      { name: 'pool', className: 'MaxPooling2D', config: { pool_size: [2, 2] }, inputs: ['flat'] },
    ])).toThrow("layer 'pool' (MaxPooling2D): expected an image tensor [H, W, C], got shape [32]");
  });
  it('invalid arguments are named', () => {
    expect(() => convertLayersModel({ modelJson: null as unknown as object, weights: new Uint8Array() })).toThrow('modelJson must be the parsed model.json object');
    expect(() => convertLayersModel({ modelJson: {}, weights: new Uint8Array() })).toThrow('modelTopology missing');
    expect(() => convertLayersModel({ modelJson: { modelTopology: { class_name: 'Model', config: { layers: [] } } }, weights: 'x' as unknown as Uint8Array })).toThrow(
      'weights must be an ArrayBuffer or Uint8Array',
    );
  });
  it('errors are ConversionError instances', () => {
    expect(convertHandwritten([{ name: 'x', className: 'Nope', config: {}, inputs: ['input'] }])).toThrow(ConversionError);
  });
});

describe('card consistency', () => {
  const greyKernel: WeightJson = { name: 'c1/kernel', shape: [1, 1, 1, 1], values: new Float32Array([0.5]) };
  const model = () => functionalModelJson([4, 4, 1], [conv({})], ['c1'], [greyKernel]);
  const output = { name: 'reconstruction', meaning: 'reconstruction' as const, shape: ['N' as const, 1, 4, 4] };
  it('an invalid card is rejected with every problem listed', () => {
    const card = { ...sampleCard(1, 4, [output]), family: 'nope', createdAt: 5 } as unknown as ModelCard;
    expect(() => convertLayersModel({ ...model(), card })).toThrow(/family[\s\S]*createdAt|createdAt[\s\S]*family/);
  });
  it('a card whose input shape differs from the model is rejected', () => {
    const card = sampleCard(3, 4, [output]);
    expect(() => convertLayersModel({ ...model(), card })).toThrow('card.input.shape ["N",3,4,4] does not match the model input ["N",1,4,4]');
  });
  it('a card with the wrong number or shape of outputs is rejected', () => {
    const card = sampleCard(1, 4, [output, { ...output, name: 'other' }]);
    expect(() => convertLayersModel({ ...model(), card })).toThrow('card lists 2 outputs (reconstruction, other) but the model has 1');
    const wrongShape = sampleCard(1, 4, [{ ...output, shape: ['N', 2, 4, 4] }]);
    expect(() => convertLayersModel({ ...model(), card: wrongShape })).toThrow("card output 'reconstruction' has shape [\"N\",2,4,4] but model output 0 has [\"N\",1,4,4]");
  });
  it('a card announcing MC-Dropout for a model without McDropout is rejected', () => {
    const card = sampleCard(1, 4, [output]);
    card.mcDropout = { samples: 10, maskInputs: [{ name: 'mc_mask_0', shape: ['N', 1, 4, 4], rate: 0.5 }] };
    expect(() => convertLayersModel({ ...model(), card })).toThrow('disagree with the exported graph');
  });
  it('a valid card is embedded with the converter version', () => {
    const card = sampleCard(1, 4, [output]);
    const result = convertLayersModel({ ...model(), card });
    expect(result.card?.producer.converter).toMatch(/^@residuum\/onnx-converter@/);
    expect(result.card?.training).toEqual(card.training);
  });
});
