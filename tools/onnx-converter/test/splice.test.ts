/**
 * Backbone + head in one file: a backbone cut at two taps and a multi-input head (the taps in, a DFR-like
 * feature error out) are converted separately and spliced; the result is checked by python3-onnx and
 * compared with TF.js predicting the composed model (backbone applied, then head) in onnxruntime-node
 * and -web.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { modelCardFromMetadata } from '@residuum/scoring';
import { convertLayersModel, spliceOnnxModels } from '../src/index.js';
import { decodeModelObject } from '../src/onnx-model.js';
import { sampleCard } from './helpers/card.js';
import { expectValidOnnx } from './helpers/onnx-checker.js';
import { runOrtNode, runOrtWeb } from './helpers/runtimes.js';
import { maxAbsDiff, nhwcToNchw, randomArray, randomizeWeights, saveToMemory, seededRandom, tf, tfOutputAsOnnx, useCpuBackend } from './helpers/tfjs-harness.js';

type Sym = tf.SymbolicTensor;
beforeAll(useCpuBackend);

function backboneModel(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3], name: 'input_1' });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'conv1' }).apply(input) as Sym;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as Sym;
  const a = tf.layers.activation({ activation: 'relu', name: 'tap_a' }).apply(x) as Sym;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'conv2' }).apply(a) as Sym;
  const b = tf.layers.activation({ activation: 'relu', name: 'tap_b' }).apply(x) as Sym;
  const tail = tf.layers.dense({ units: 2, name: 'fc' }).apply(tf.layers.flatten({ name: 'flat' }).apply(b)) as Sym;
  return tf.model({ inputs: input, outputs: [a, b, tail] });
}

/** Inputs named like the backbone's graph outputs: upsample layer2, concat, 1x1 convs, a one-channel map. */
function headModel(): tf.LayersModel {
  const layer1 = tf.input({ shape: [8, 8, 4], name: 'layer1' });
  const layer2 = tf.input({ shape: [4, 4, 8], name: 'layer2' });
  const up = tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear', name: 'resize' }).apply(layer2) as Sym;
  const joined = tf.layers.concatenate({ name: 'concat' }).apply([layer1, up]) as Sym;
  // Named like backbone layers on purpose: the splice must keep the two apart.
  const hidden = tf.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'relu', name: 'conv1' }).apply(joined) as Sym;
  const map = tf.layers.conv2d({ filters: 1, kernelSize: 1, name: 'feature_error_conv' }).apply(hidden) as Sym;
  return tf.model({ inputs: [layer1, layer2], outputs: map });
}

async function parts() {
  const backbone = backboneModel();
  randomizeWeights(backbone, 3);
  const head = headModel();
  randomizeWeights(head, 4);
  const backboneOnnx = convertLayersModel({ ...(await saveToMemory(backbone)), outputLayers: ['tap_a', 'tap_b'], outputNames: ['layer1', 'layer2'] });
  const headOnnx = convertLayersModel({ ...(await saveToMemory(head)), outputNames: ['feature_error'] });
  return { backbone, head, backboneOnnx, headOnnx };
}

describe('spliceOnnxModels', () => {
  it('converts the multi-input head with its InputLayer names as graph inputs', async () => {
    const { headOnnx } = await parts();
    expect(headOnnx.report.inputNames).toEqual(['layer1', 'layer2']);
    const graph = (decodeModelObject(headOnnx.onnx).graph as { input: Array<{ name: string }> }).input.map((i) => i.name);
    expect(graph).toEqual(['layer1', 'layer2']);
  });

  it('binds the head inputs to the backbone outputs: one valid file that predicts like TF.js, with the card', async () => {
    const { backbone, head, backboneOnnx, headOnnx } = await parts();
    const card = sampleCard(3, 16, [{ name: 'feature_error', meaning: 'feature-error-map', shape: ['N', 1, 8, 8] }], 'dfr');
    card.score = { map: { kind: 'model-output', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean' } };
    const { onnx: spliced, nodes } = spliceOnnxModels({ backbone: backboneOnnx.onnx, head: headOnnx.onnx, card });
    expect(nodes).toBe(backboneOnnx.report.nodes + headOnnx.report.nodes);
    expectValidOnnx(spliced);
    const decoded = decodeModelObject(spliced) as { graph: { input: Array<{ name: string }>; output: Array<{ name: string }> }; metadataProps: Array<{ key: string; value: string }> };
    expect(decoded.graph.input.map((i) => i.name)).toEqual(['input']);
    expect(decoded.graph.output.map((o) => o.name)).toEqual(['feature_error']);
    const meta = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
    expect(modelCardFromMetadata(meta).outputs[0].name).toBe('feature_error');

    const input = tf.input({ shape: [16, 16, 3] });
    const taps = (backbone.apply(input) as Sym[]).slice(0, 2);
    const composed = tf.model({ inputs: input, outputs: head.apply(taps) as Sym });
    const nhwc = randomArray(2 * 16 * 16 * 3, seededRandom(5));
    const expected = tfOutputAsOnnx(composed.predict(tf.tensor(nhwc, [2, 16, 16, 3])) as tf.Tensor);
    const feeds = { input: { data: nhwcToNchw(nhwc, [2, 16, 16, 3]), dims: [2, 3, 16, 16] } };
    expect(maxAbsDiff((await runOrtNode(spliced, feeds)).feature_error, expected)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff((await runOrtWeb(spliced, feeds)).feature_error, expected)).toBeLessThanOrEqual(1e-4);
  });

  it('refuses heads that do not fit the backbone, cards that do not fit the result, and a card on a multi-input conversion', async () => {
    const { backbone, backboneOnnx, headOnnx } = await parts();
    const cut = convertLayersModel({ ...(await saveToMemory(backbone)), outputLayers: ['tap_a'], outputNames: ['layer1'] });
    expect(() => spliceOnnxModels({ backbone: cut.onnx, head: headOnnx.onnx })).toThrow("head input 'layer2' is not a backbone output (backbone outputs: layer1)");
    const swapped = convertLayersModel({ ...(await saveToMemory(backbone)), outputLayers: ['tap_b', 'tap_a'], outputNames: ['layer1', 'layer2'] });
    expect(() => spliceOnnxModels({ backbone: swapped.onnx, head: headOnnx.onnx })).toThrow(/head input 'layer1' is 1\[N,4,8,8\] but the backbone output is 1\[N,8,4,4\]/);
    const wrongCard = sampleCard(3, 16, [{ name: 'other', meaning: 'feature-error-map', shape: ['N', 1, 8, 8] }], 'dfr');
    wrongCard.score = { map: { kind: 'model-output', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean' } };
    expect(() => spliceOnnxModels({ backbone: backboneOnnx.onnx, head: headOnnx.onnx, card: wrongCard })).toThrow(/card outputs other are not the head outputs feature_error/);
    expect(() => spliceOnnxModels({ backbone: new Uint8Array([1, 2, 3]), head: headOnnx.onnx })).toThrow(/backbone is not an ONNX model|backbone has no graph/);
    const headArtifacts = await saveToMemory(headModel());
    expect(() => convertLayersModel({ ...headArtifacts, card: wrongCard })).toThrow(/2 inputs \(layer1, layer2\); a card describes one image input/);
  });
});
