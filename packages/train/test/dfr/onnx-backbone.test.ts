/**
 * The onnxruntime path of DFR features (the start of `dfr --backbone resnet50`) against the all-TF.js
 * extractor, on a tiny seeded backbone committed both as a TF.js folder and as the converter's cut
 * ONNX file (scripts/make-onnx-backbone-fixture.ts): same taps, same aggregated features.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFeatureExtractor, buildTapAggregator, loadBackbone, OnnxTapExtractor, onnxBackbonePreprocessing, RESNET50_DFR_TAPS, type OnnxBackboneSpec } from '../../src/families/dfr/index.js';
import { useCpuBackend } from '../helpers.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/onnx-backbone');
const CAFFE = { channels: 3 as const, resize: 'fill' as const, interpolation: 'bilinear' as const, channelOrder: 'bgr' as const, pixelDivisor: 1 as const, mean: [103.939, 116.779, 123.68], std: [1, 1, 1] };
const spec: OnnxBackboneSpec = { onnxPath: join(FIXTURE, 'backbone.onnx'), taps: [...RESNET50_DFR_TAPS], preprocessing: CAFFE, name: 'tiny' };
let extractor: OnnxTapExtractor;

beforeAll(async () => {
  await useCpuBackend();
  extractor = await OnnxTapExtractor.open(spec, 32, { threads: 1 });
});
afterAll(async () => {
  await extractor?.dispose();
});

function maxAbs(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('DFR features from an ONNX backbone (onnxruntime-node taps + TF.js aggregation)', () => {
  it('reads the tap shapes from the file', () => {
    expect(extractor.taps).toEqual([
      { name: 'layer1', shape: [16, 16, 8] },
      { name: 'layer2', shape: [8, 8, 16] },
      { name: 'layer3', shape: [4, 4, 32] },
    ]);
  });

  it('gives the features the all-TF.js extractor computes from the same weights', async () => {
    const backbone = await loadBackbone({ dir: FIXTURE, taps: ['tap_a', 'tap_b', 'tap_c'], inputMean: 0, inputStd: 1 });
    const reference = buildFeatureExtractor(backbone, ['tap_a', 'tap_b', 'tap_c'], 32, 3, 2);
    const aggregator = buildTapAggregator(extractor.taps, 2, 32);
    expect(aggregator.shape).toEqual(reference.shape);
    expect(aggregator.shape).toMatchObject({ tapGrid: 16, featureGrid: 8, tapChannels: [8, 16, 32], featureChannels: 56 });

    // Caffe-range inputs (roughly -124..152), as ResNet-50 sees them.
    const nhwc = tf.randomUniform([3, 32, 32, 3], -124, 152, 'float32', 7);
    const data = (await nhwc.data()) as Float32Array;
    const taps = await extractor.extract(data, 3);
    const ours = aggregator.model.predict(taps) as tf.Tensor;
    const theirs = reference.model.predict(nhwc) as tf.Tensor;
    const a = (await ours.data()) as Float32Array;
    const b = (await theirs.data()) as Float32Array;
    const scale = Math.max(...b);
    expect(scale).toBeGreaterThan(1);
    expect(maxAbs(a, b) / scale).toBeLessThanOrEqual(1e-5);
    tf.dispose([nhwc, ours, theirs, ...taps]);
    reference.model.dispose();
    aggregator.model.dispose();
    backbone.dispose();
  });

  it('fails clearly on a missing tap, a size the file was not converted for, a wrong batch, and a missing file', async () => {
    await expect(OnnxTapExtractor.open({ ...spec, taps: ['layer1', 'layer4'] }, 32)).rejects.toThrow(/has no output layer4 \(outputs: layer1, layer2, layer3\)/);
    await expect(OnnxTapExtractor.open(spec, 48)).rejects.toThrow(/backbone tiny at 48x48:/);
    await expect(extractor.extract(new Float32Array(10), 1)).rejects.toThrow(/10 values are not 1 x 3 x 32 x 32/);
    await expect(OnnxTapExtractor.open({ ...spec, onnxPath: join(FIXTURE, 'nope.onnx') }, 32)).rejects.toThrow(/cannot open .*nope.onnx with onnxruntime-node/);
  });

  it('takes the backbone preprocessing (Caffe style) at the model size, and only with 3 channels', () => {
    expect(onnxBackbonePreprocessing(spec, 224)).toEqual({ ...CAFFE, width: 224, height: 224 });
    expect(() => onnxBackbonePreprocessing({ ...spec, preprocessing: { ...CAFFE, channels: 1, mean: [0], std: [1], channelOrder: undefined } }, 224)).toThrow(/3-channel input/);
  });
});
