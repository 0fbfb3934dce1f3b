import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDfrGraph, buildFeatureExtractor, buildVectorAutoencoder, loadBackbone, autoencoderWidths } from '../../src/families/dfr/index.js';
import { useCpuBackend } from '../helpers.js';
import { testBackbone } from './helpers.js';

const TAPS = ['conv_pw_1_relu', 'conv_pw_3_relu', 'conv_pw_5_relu', 'conv_pw_11_relu'];
let backbone: tf.LayersModel;

beforeAll(async () => {
  await useCpuBackend();
  backbone = await loadBackbone(testBackbone());
});
afterAll(() => backbone?.dispose());

function seededImages(count: number, size: number, channels: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([count, size, size, channels], -1, 1, 'float32', seed);
}

describe('DFR feature aggregation', () => {
  it('resizes every tap to the first tap grid, concatenates and averages 4x4 cells', async () => {
    const extractor = buildFeatureExtractor(backbone, TAPS, 64, 3, 4);
    expect(extractor.shape).toEqual({ inputSize: 64, channels: 3, tapGrid: 32, featureGrid: 8, tapChannels: [16, 32, 64, 128], featureChannels: 240 });
    expect(extractor.model.outputs[0].shape).toEqual([null, 8, 8, 240]);

    // Reference: the backbone's own taps (224 input layers reused at 64 px through the same weights),
    // then tf.image.resizeBilinear + avgPool done by hand.
    const x = seededImages(2, 64, 3, 1);
    const tapModel = tf.model({ inputs: extractor.model.inputs, outputs: TAPS.map((t) => extractor.model.getLayer(t).output as tf.SymbolicTensor) });
    const taps = tapModel.predict(x) as tf.Tensor4D[];
    const reference = tf.tidy(() => {
      const resized = taps.map((t) => (t.shape[1] === 32 ? t : tf.image.resizeBilinear(t, [32, 32])));
      return tf.avgPool(tf.concat(resized, -1), 4, 4, 'valid');
    });
    const features = extractor.model.predict(x) as tf.Tensor;
    const diff = (await tf.max(tf.abs(tf.sub(features, reference))).data())[0];
    expect(diff).toBeLessThan(1e-5);
    // The taps are real, varied ReLU6 features, not constants.
    const [min, max] = [(await features.min().data())[0], (await features.max().data())[0]];
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeGreaterThan(0.1);
    expect(max).toBeLessThanOrEqual(6);
    tf.dispose([x, features, reference, ...taps]);
  });

  it('uses the pretrained weights of the backbone, not fresh initializations', async () => {
    const extractor = buildFeatureExtractor(backbone, TAPS, 64, 3, 4);
    const original = backbone.getLayer('conv_pw_5').getWeights()[0];
    const rebuilt = extractor.model.getLayer('conv_pw_5').getWeights()[0];
    expect(rebuilt.shape).toEqual(original.shape);
    expect((await tf.max(tf.abs(tf.sub(rebuilt, original))).data())[0]).toBe(0);
    expect(extractor.model.getLayer('conv_pw_5').trainable).toBe(false);
  });

  it('replicates a grey input to RGB in-graph', async () => {
    const grey = buildFeatureExtractor(backbone, TAPS, 32, 1, 4);
    const rgb = buildFeatureExtractor(backbone, TAPS, 32, 3, 4);
    const x = seededImages(1, 32, 1, 2);
    const a = grey.model.predict(x) as tf.Tensor;
    const b = rgb.model.predict(tf.concat([x, x, x], -1)) as tf.Tensor;
    expect((await tf.max(tf.abs(tf.sub(a, b))).data())[0]).toBeLessThan(1e-6);
    expect(grey.shape.featureGrid).toBe(4);
  });

  it('rejects taps that do not exist or come in a coarse-first order, and grids the cell does not divide', async () => {
    await expect(loadBackbone({ ...testBackbone(), taps: ['conv_pw_1_relu', 'no_such_layer'] })).rejects.toThrow(/no layer named no_such_layer/);
    await expect(loadBackbone({ ...testBackbone(), dir: '/nonexistent/backbone' })).rejects.toThrow(/model\.json not found/);
    expect(() => buildFeatureExtractor(backbone, ['conv_pw_5_relu', 'conv_pw_1_relu'], 64, 3, 4)).toThrow(/finer than the first tap/);
    expect(() => buildFeatureExtractor(backbone, TAPS, 64, 3, 3)).toThrow(/not a multiple of the cell size 3/);
  });
});

describe('DFR graph', () => {
  it('follows the DFR autoencoder widths', () => {
    expect(autoencoderWidths(240, 20)).toEqual([140, 40, 20, 40, 140, 240]);
    expect(() => autoencoderWidths(240, 0)).toThrow(/latent width/);
  });

  it('outputs mean_c (z - AE(z))^2, z = standardized features, with the trained dense weights as 1x1 convolutions', async () => {
    const extractor = buildFeatureExtractor(backbone, TAPS, 64, 3, 4);
    const autoencoder = buildVectorAutoencoder(240, 12, 5);
    // Non-trivial BN statistics so that copying them matters.
    const bn = autoencoder.getLayer('dfr_ae_0_bn');
    const [gamma, beta] = bn.getWeights();
    bn.setWeights([gamma, beta, tf.randomUniform(gamma.shape, 0, 1, 'float32', 3), tf.randomUniform(gamma.shape, 0.5, 2, 'float32', 4)]);
    const mean = Float32Array.from({ length: 240 }, (_, i) => 0.01 * (i % 17));
    const std = Float32Array.from({ length: 240 }, (_, i) => 0.5 + 0.01 * (i % 13));
    const { model, shape } = buildDfrGraph(backbone, TAPS, 64, 3, 4, autoencoder, { mean, std });
    expect(model.outputs[0].shape).toEqual([null, 8, 8, 1]);
    expect(shape.featureChannels).toBe(240);

    const x = seededImages(2, 64, 3, 6);
    const features = extractor.model.predict(x) as tf.Tensor4D;
    const expected = tf.tidy(() => {
      const vectors = tf.div(tf.sub(features.reshape([-1, 240]), tf.tensor1d(mean)), tf.tensor1d(std)) as tf.Tensor2D;
      const reconstruction = autoencoder.predict(vectors) as tf.Tensor2D;
      return tf.mean(tf.squaredDifference(vectors, reconstruction), -1).reshape([2, 8, 8, 1]);
    });
    const actual = model.predict(x) as tf.Tensor;
    const scale = (await tf.max(expected).data())[0];
    expect(scale).toBeGreaterThan(0);
    expect((await tf.max(tf.abs(tf.sub(actual, expected))).data())[0]).toBeLessThan(1e-5 * Math.max(1, scale));
    // Only the autoencoder is trainable.
    const trainable = model.trainableWeights.map((w) => w.originalName);
    expect(trainable.length).toBeGreaterThan(0);
    expect(trainable.every((name) => name.startsWith('dfr_ae_'))).toBe(true);
  });

  it('rejects a standardization that does not fit the features', () => {
    const autoencoder = buildVectorAutoencoder(240, 8, 1);
    expect(() => buildDfrGraph(backbone, TAPS, 64, 3, 4, autoencoder, { mean: new Float32Array(10), std: new Float32Array(10).fill(1) })).toThrow(/10\/10 values for 240 channels/);
    expect(() => buildDfrGraph(backbone, TAPS, 64, 3, 4, autoencoder, { mean: new Float32Array(240), std: new Float32Array(240) })).toThrow(/positive/);
  });
});
