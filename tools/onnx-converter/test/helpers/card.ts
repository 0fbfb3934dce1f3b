import type { ModelCard, OutputSpec } from '@residuum/scoring';

/** A complete card for a model with the given NCHW input and outputs. */
export function sampleCard(channels: 1 | 3, size: number | { width: number; height: number }, outputs: OutputSpec[], family: ModelCard['family'] = 'cae'): ModelCard {
  const { width, height } = typeof size === 'number' ? { width: size, height: size } : size;
  return {
    schemaVersion: 1,
    family,
    name: `test-${family}`,
    preprocessing: { width, height, channels, resize: 'fill', interpolation: 'bilinear', mean: new Array(channels).fill(0), std: new Array(channels).fill(1) },
    input: { name: 'input', layout: 'NCHW', shape: ['N', channels, height, width] },
    outputs,
    score: { map: { kind: 'squared', channelReduction: 'mean', smoothingSigma: 0 }, image: { kind: 'mean' } },
    threshold: { value: 0.01, method: 'quantile', params: { q: 0.99 }, fittedOn: { count: 10, normal: 10, anomalous: 0, source: 'test' } },
    calibration: { count: 10, min: 0, max: 0.02, mean: 0.005, std: 0.002, quantiles: { '0.99': 0.01 } },
    training: { dataFingerprint: 'sha256:test', dataDescription: 'synthetic', imageCount: 10, epochs: 1, seed: 1, backend: 'cpu', loss: 'mse' },
    createdAt: '2026-11-23T12:00:00.000Z',
    producer: { trainer: 'test' },
  };
}
