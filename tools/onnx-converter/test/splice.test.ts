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

  it('fp16 storage: large weights stored as float16 and cast to float32 in the graph; output within the rounding of the weights', async () => {
    const { backboneOnnx, headOnnx } = await parts();
    const card = sampleCard(3, 16, [{ name: 'feature_error', meaning: 'feature-error-map', shape: ['N', 1, 8, 8] }], 'dfr');
    card.score = { map: { kind: 'model-output', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean' } };
    const fp32 = spliceOnnxModels({ backbone: backboneOnnx.onnx, head: headOnnx.onnx, card });
    // minElements is 1024 by default; this tiny model's largest kernel has 288 values, so every weight tensor of >= 8 values counts here.
    const half = spliceOnnxModels({ backbone: backboneOnnx.onnx, head: headOnnx.onnx, card, fp16Storage: true });
    expectValidOnnx(half.onnx);
    expect(half.fp16Storage?.converted).toBe(0);
    const graph = decodeModelObject(half.onnx).graph as { node: Array<{ opType: string; input: string[]; output: string[] }>; initializer: Array<{ name: string; dataType: number }> };
    expect(graph.node.filter((n) => n.opType === 'Cast')).toEqual([]);
    expect(graph.initializer.every((i) => i.dataType !== 10)).toBe(true);

    const small = spliceOnnxModels({ backbone: backboneOnnx.onnx, head: headOnnx.onnx, card, fp16Storage: true, fp16MinElements: 8 });
    expectValidOnnx(small.onnx);
    const report = small.fp16Storage!;
    const decoded = decodeModelObject(small.onnx) as { graph: typeof graph; metadataProps: Array<{ key: string; value: string }> };
    const halves = decoded.graph.initializer.filter((i) => i.dataType === 10);
    expect(halves.length).toBe(report.converted);
    expect(report.converted).toBeGreaterThanOrEqual(4);
    const casts = decoded.graph.node.slice(0, report.converted);
    expect(casts.every((n) => n.opType === 'Cast' && halves.some((h) => h.name === n.input[0]) && n.input[0] === `${n.output[0]}/fp16`)).toBe(true);
    expect(report.bytesAfter).toBeLessThan(report.bytesBefore);
    expect(small.onnx.byteLength).toBeLessThan(fp32.onnx.byteLength);
    const meta = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
    expect(modelCardFromMetadata(meta).producer?.converter).toMatch(/\(fp16 storage\)$/);

    const nhwc = randomArray(2 * 16 * 16 * 3, seededRandom(6));
    const feeds = { input: { data: nhwcToNchw(nhwc, [2, 16, 16, 3]), dims: [2, 3, 16, 16] } };
    const reference = (await runOrtNode(fp32.onnx, feeds)).feature_error;
    const stored = (await runOrtNode(small.onnx, feeds)).feature_error;
    const scale = Math.max(...reference.data.map(Math.abs));
    const relative = maxAbsDiff(stored, reference) / scale;
    // Each weight moves by at most 2^-11 of itself; through four weight layers that is a few 1e-3 at most.
    expect(relative).toBeGreaterThan(0);
    expect(relative).toBeLessThanOrEqual(5e-3);
    expect(maxAbsDiff((await runOrtWeb(small.onnx, feeds)).feature_error, stored)).toBeLessThanOrEqual(1e-4 * scale);
  });
});
