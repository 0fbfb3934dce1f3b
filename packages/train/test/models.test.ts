import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { McDropout, NeighborConv2D, VaeSampling } from '../src/layers/index.js';
import { createTrainable } from '../src/families/autoencoder/trainable.js';
import { defaultScoreSpec, modelMcDropout, modelOutputs, resolveModelSpec, type ModelSpec, type PartialModelSpec } from '../src/families/autoencoder/spec.js';
import { loadModelFromDir, saveModelToDir } from '../src/training/model-io.js';
import { seededValues, useCpuBackend, withTempDir } from './helpers.js';

beforeAll(useCpuBackend);

const tiny: Record<ModelSpec['family'], PartialModelSpec> = {
  cae: { family: 'cae', inputSize: 16, widths: [4, 8], seed: 1 },
  ncae: { family: 'ncae', inputSize: 16, channels: 3, widths: [4, 8], seed: 1 },
  aesc: { family: 'aesc', inputSize: 16, widths: [4, 4, 8], seed: 1 },
  vae: { family: 'vae', inputSize: 16, widths: [4, 8], latentDim: 6, seed: 1 },
};

function batchFor(spec: ModelSpec, count: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(seededValues(count * spec.inputSize * spec.inputSize * spec.channels, seed), [count, spec.inputSize, spec.inputSize, spec.channels]);
}

describe.each(Object.keys(tiny) as Array<ModelSpec['family']>)('%s', (family) => {
  const spec = resolveModelSpec(tiny[family]);

  it('builds, trains a step with a finite loss, and round-trips through save/load', async () => {
    const trainable = createTrainable(spec);
    const x = batchFor(spec, 2, 5);
    const optimizer = tf.train.adam(1e-3);
    const loss = optimizer.minimize(() => trainable.loss(x, x), true);
    expect(Number.isFinite(loss?.dataSync()[0])).toBe(true);
    const outputs = trainable.model.outputs.map((o) => o.shape);
    expect(outputs[0]).toEqual([null, spec.inputSize, spec.inputSize, spec.channels]);
    expect(trainable.model.outputs.length).toBe(modelOutputs(spec).length);
    const before = trainable.model.predict(x) as tf.Tensor | tf.Tensor[];
    const first = (Array.isArray(before) ? before[0] : before).dataSync();
    await withTempDir(async (dir) => {
      await saveModelToDir(trainable.model, dir);
      const loaded = await loadModelFromDir(dir);
      const after = loaded.predict(x) as tf.Tensor | tf.Tensor[];
      expect(Array.from((Array.isArray(after) ? after[0] : after).dataSync())).toEqual(Array.from(first));
    });
  });

  it('is deterministic for a seed', () => {
    const a = createTrainable(spec).model.getWeights().map((w) => Array.from(w.dataSync()));
    const b = createTrainable(spec).model.getWeights().map((w) => Array.from(w.dataSync()));
    expect(a).toEqual(b);
  });

  it('names a score for the runtime', () => {
    // CAE: 1 - SSIM always (measured better on casting); the others follow their training loss.
    expect(defaultScoreSpec(spec).map.kind).toBe(family === 'cae' ? 'ssim' : 'squared');
    expect(defaultScoreSpec({ ...spec, loss: 'ssim' }).map.kind).toBe('ssim');
    expect(defaultScoreSpec(spec).image.kind).toBe('mean');
  });
});

describe('family specifics', () => {
  it('NCAE starts with a NeighborConv2D over all input channels', () => {
    const model = createTrainable(resolveModelSpec(tiny.ncae)).model;
    const first = model.layers[1];
    expect(first).toBeInstanceOf(NeighborConv2D);
    expect(first.countParams()).toBe(8 * 3 * 4);
  });

  it('AESc has one McDropout per non-zero rate and the card lists matching mask inputs', () => {
    const spec = resolveModelSpec(tiny.aesc);
    expect(spec.family === 'aesc' && spec.dropoutRates).toEqual([0.2, 0.4, 0.5]);
    const model = createTrainable(spec).model;
    const dropouts = model.layers.filter((l) => l instanceof McDropout);
    const mc = modelMcDropout(spec);
    expect(mc?.samples).toBe(30);
    expect(mc?.maskInputs.map((m) => m.name)).toEqual(['mc_mask_0', 'mc_mask_1', 'mc_mask_2']);
    dropouts.forEach((layer, k) => {
      const [, h, w, c] = layer.outputShape as number[];
      expect(mc?.maskInputs[k].shape).toEqual(['N', c, h, w]);
      expect(mc?.maskInputs[k].rate).toBe((layer as McDropout).rate);
    });
    expect(model.layers.some((l) => l.getClassName() === 'Add')).toBe(true);
  });

  it('VAE outputs reconstruction, latent mean and log-variance through VaeSampling', () => {
    const spec = resolveModelSpec(tiny.vae);
    const model = createTrainable(spec).model;
    expect(model.layers.some((l) => l instanceof VaeSampling)).toBe(true);
    expect(model.outputNames).toEqual(['reconstruction', 'latent_mean', 'latent_log_variance']);
    expect(modelOutputs(spec).map((o) => o.meaning)).toEqual(['reconstruction', 'latent-mean', 'latent-log-variance']);
  });

  it('rejects specs that cannot build, naming the problem', () => {
    expect(() => createTrainable(resolveModelSpec({ family: 'cae', inputSize: 18, widths: [4, 8] }))).toThrow(/divisible by 2\^depth = 4/);
    expect(() => createTrainable(resolveModelSpec({ family: 'aesc', inputSize: 16, widths: [4, 4], dropoutRates: [0.1] }))).toThrow(/dropoutRates/);
    expect(() => resolveModelSpec({ family: 'gan' } as unknown as PartialModelSpec)).toThrow(/unknown model family 'gan'/);
    expect(() => createTrainable(resolveModelSpec({ family: 'cae', loss: 'huber' as 'mse', inputSize: 16, widths: [2] }))).toThrow(/loss must be one of/);
  });

  it('the CAE loss falls over a few Adam steps on a tiny fixed batch', () => {
    const spec = resolveModelSpec({ ...tiny.cae, widths: [8, 8] });
    const trainable = createTrainable(spec);
    const x = batchFor(spec, 4, 11);
    const optimizer = tf.train.adam(1e-2);
    const losses: number[] = [];
    for (let step = 0; step < 15; step++) losses.push(optimizer.minimize(() => trainable.loss(x, x), true)!.dataSync()[0]);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.8);
  });
});
