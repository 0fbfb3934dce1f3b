import { describe, expect, it } from 'vitest';
import { calibrate, fitThreshold, GoodPixels, parseThresholdOption } from '../src/training/calibration.js';

const scores = Array.from({ length: 200 }, (_, i) => ((i * 37) % 200) / 100);

describe('calibration', () => {
  it('parses the CLI threshold forms and rejects others by name', () => {
    expect(parseThresholdOption('quantile')).toEqual({ method: 'quantile', q: undefined });
    expect(parseThresholdOption('quantile:0.95')).toEqual({ method: 'quantile', q: 0.95 });
    expect(parseThresholdOption('mean-std:2.5')).toEqual({ method: 'mean-std', k: 2.5 });
    expect(parseThresholdOption('target-fpr:0.02')).toEqual({ method: 'target-fpr', fpr: 0.02 });
    expect(() => parseThresholdOption('otsu')).toThrow(/quantile\[:q\], mean-std\[:k\] or target-fpr/);
    expect(() => parseThresholdOption('quantile:abc')).toThrow(/'abc' is not a number/);
  });

  it('fits each method on normal scores with the documented meaning', () => {
    const q = fitThreshold(scores, { method: 'quantile', q: 0.9 }, 'test');
    expect(scores.filter((s) => s <= q.value).length / scores.length).toBeGreaterThanOrEqual(0.9);
    const fpr = fitThreshold(scores, { method: 'target-fpr', fpr: 0.05 }, 'test');
    expect(scores.filter((s) => s >= fpr.value).length / scores.length).toBeLessThanOrEqual(0.05);
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / scores.length);
    expect(fitThreshold(scores, { method: 'mean-std', k: 2 }, 'test').value).toBeCloseTo(mean + 2 * std, 9);
    expect(fitThreshold(scores, { method: 'quantile' }, 'src').fittedOn).toMatchObject({ count: 200, normal: 200, anomalous: 0, source: 'src' });
  });

  it('returns calibration statistics with the threshold and refuses empty or diverged scores', () => {
    const { calibration, threshold } = calibrate(scores, { method: 'quantile', q: 0.99 }, 'test');
    expect(calibration.count).toBe(200);
    expect(calibration.max).toBe(Math.max(...scores));
    expect(threshold.value).toBeLessThanOrEqual(calibration.max);
    expect(() => fitThreshold([], { method: 'quantile' }, 'x')).toThrow(/empty validation set/);
    expect(() => fitThreshold([1, Number.NaN], { method: 'quantile' }, 'x')).toThrow(/score 1 is NaN.*diverge/);
  });

  it('sets the pixel threshold at the target share of good pixels over every collected map', () => {
    const pixels = new GoodPixels();
    // Two maps of 100 pixels: values 0..199 in total, so 5 % of good pixels (10) lie above the threshold.
    pixels.add(Float32Array.from({ length: 100 }, (_, i) => i));
    pixels.add(Float32Array.from({ length: 100 }, (_, i) => 100 + i));
    expect(pixels.count).toBe(200);
    const { calibration } = calibrate(scores, { method: 'quantile' }, 'test', pixels);
    const values = pixels.values();
    const above = values.filter((v) => v >= (calibration.pixelThreshold ?? Infinity)).length;
    expect(above).toBeLessThanOrEqual(10);
    expect(above).toBeGreaterThanOrEqual(9);
    expect(calibrate(scores, { method: 'quantile' }, 'test', pixels, 0.5).calibration.pixelThreshold).toBeLessThan(calibration.pixelThreshold ?? 0);
    expect(calibrate(scores, { method: 'quantile' }, 'test').calibration.pixelThreshold).toBeUndefined();
  });
});
