import * as tf from '@tensorflow/tfjs';
import { ssimMap as scoringSsimMap } from '@residuum/scoring';
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussianKl, reconstructionLoss, ssimMap } from '../src/losses/losses.js';
import { seededValues, useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

describe('losses', () => {
  const size = 24;
  const a = seededValues(size * size, 1);
  const b = a.map((v, i) => Math.min(1, Math.max(0, v * 0.8 + 0.1 * seededValues(size * size, 2)[i])));
  const ta = tf.tensor4d(a, [1, size, size, 1]);
  const tb = tf.tensor4d(b, [1, size, size, 1]);

  it('the SSIM training loss uses the same SSIM as the scoring package (interior, away from borders)', () => {
    const fromTf = ssimMap(ta, tb).dataSync();
    const fromScoring = scoringSsimMap(a, b, size, size, { windowSize: 11, sigma: 1.5 });
    const valid = size - 10;
    let maxDiff = 0;
    for (let y = 0; y < valid; y++) {
      for (let x = 0; x < valid; x++) maxDiff = Math.max(maxDiff, Math.abs(fromTf[y * valid + x] - fromScoring[(y + 5) * size + (x + 5)]));
    }
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('each reconstruction loss is 0 for a perfect reconstruction and positive otherwise', () => {
    for (const kind of ['mse', 'l1', 'ssim'] as const) {
      expect(reconstructionLoss(kind, ta, ta).dataSync()[0]).toBeCloseTo(0, 5);
      expect(reconstructionLoss(kind, tb, ta).dataSync()[0]).toBeGreaterThan(1e-3);
    }
    const mse = a.reduce((sum, v, i) => sum + (v - b[i]) ** 2, 0) / a.length;
    expect(reconstructionLoss('mse', tb, ta).dataSync()[0]).toBeCloseTo(mse, 6);
  });

  it('KL is 0 for the prior and matches the closed form otherwise', () => {
    expect(gaussianKl(tf.zeros([2, 3]), tf.zeros([2, 3])).dataSync()[0]).toBeCloseTo(0, 6);
    // One latent dim, mean 1, logVar log 2: 0.5 (1 + 2 - log 2 - 1).
    expect(gaussianKl(tf.tensor2d([[1]]), tf.tensor2d([[Math.log(2)]])).dataSync()[0]).toBeCloseTo(0.5 * (2 - Math.log(2)), 6);
  });
});
