import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { RECONSTRUCTION_LOSSES } from '../src/losses/losses.js';
import { createTrainable } from '../src/families/autoencoder/trainable.js';
import { resolveModelSpec, type PartialModelSpec } from '../src/families/autoencoder/spec.js';
import { seededValues } from './helpers.js';

// The trainer's default backend is wasm, whose kernel set differs from cpu's (missing gradients
// fail only at the first step), so every family and loss must take a step there.
beforeAll(async () => {
  await initBackend('wasm');
});

const families: PartialModelSpec[] = [
  { family: 'cae', inputSize: 16, widths: [4, 8] },
  { family: 'ncae', inputSize: 16, channels: 3, widths: [4, 8] },
  { family: 'aesc', inputSize: 16, widths: [4, 4, 8] },
  { family: 'vae', inputSize: 16, widths: [4, 8], latentDim: 4 },
];

describe.each(RECONSTRUCTION_LOSSES.map((loss) => [loss]))('wasm backend, %s loss', (loss) => {
  it.each(families.map((f) => [f.family, f]))('%s takes finite Adam steps', (_, partial) => {
    expect(tf.getBackend()).toBe('wasm');
    const spec = resolveModelSpec({ ...partial, loss, seed: 3 } as PartialModelSpec);
    const trainable = createTrainable(spec);
    const x = tf.tensor4d(seededValues(2 * 16 * 16 * spec.channels, 5), [2, 16, 16, spec.channels]);
    const optimizer = tf.train.adam(1e-3);
    for (let step = 0; step < 2; step++) {
      const value = optimizer.minimize(() => trainable.loss(x, x), true);
      expect(Number.isFinite(value?.dataSync()[0])).toBe(true);
    }
    trainable.model.dispose();
    optimizer.dispose();
  });
});
