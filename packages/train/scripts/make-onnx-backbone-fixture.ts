/**
 * Writes test/fixtures/onnx-backbone/: a tiny seeded backbone as a TF.js Layers folder (model.json +
 * weights.bin) and the same network converted by @residuum/onnx-converter, cut at its three taps
 * (graph outputs layer1-layer3, strides 2/4/8, like the cached ResNet-50's layer1-layer3), so the
 * onnx-backbone test can compare the onnxruntime path with the all-TF.js DFR extractor offline.
 *
 *   npx tsx --conditions=@residuum/source packages/train/scripts/make-onnx-backbone-fixture.ts
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { convertLayersModel } from '@residuum/onnx-converter';
import { saveModelToDir } from '../src/index.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../test/fixtures/onnx-backbone');
await tf.setBackend('cpu');
type Sym = tf.SymbolicTensor;
const input = tf.input({ shape: [32, 32, 3], name: 'input_1' });
let x = tf.layers.zeroPadding2d({ padding: 1, name: 'pad' }).apply(input) as Sym;
x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), name: 'conv1' }).apply(x) as Sym;
const a = tf.layers.activation({ activation: 'relu', name: 'tap_a' }).apply(x) as Sym;
x = tf.layers.conv2d({ filters: 16, kernelSize: 1, strides: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }), name: 'conv2' }).apply(a) as Sym;
x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as Sym;
const b = tf.layers.activation({ activation: 'relu', name: 'tap_b' }).apply(x) as Sym;
x = tf.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), name: 'conv3' }).apply(b) as Sym;
const c = tf.layers.activation({ activation: 'relu', name: 'tap_c' }).apply(x) as Sym;
const model = tf.model({ inputs: input, outputs: c, name: 'tiny_backbone' });
// Non-trivial BN statistics (the converter folds them).
const bn = model.getLayer('bn2');
bn.setWeights([tf.linspace(0.5, 1.5, 16), tf.linspace(-0.2, 0.2, 16), tf.linspace(-0.1, 0.3, 16), tf.linspace(0.5, 2, 16)]);
await saveModelToDir(model, dir);
const modelJson = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as object;
const weights = new Uint8Array(await readFile(join(dir, 'weights.bin')));
const { onnx } = convertLayersModel({ modelJson, weights, outputLayers: ['tap_a', 'tap_b', 'tap_c'], outputNames: ['layer1', 'layer2', 'layer3'] });
await writeFile(join(dir, 'backbone.onnx'), onnx);
console.log(`wrote ${dir}: model.json, weights.bin, backbone.onnx (${onnx.byteLength} bytes)`);
