/**
 * The project's custom layers: first on hand-written topology JSON against a naive reference
 * (the mapping as the conventions define it), then with the real classes of @residuum/train.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { convertLayersModel } from '../src/index.js';
import { sampleCard } from './helpers/card.js';
import { expectValidOnnx } from './helpers/onnx-checker.js';
import { runOrtNode, runOrtWeb } from './helpers/runtimes.js';
import { checkParity, maxAbsDiff, nhwcToNchw, randomArray, randomizeWeights, seededRandom, tf, useCpuBackend } from './helpers/tfjs-harness.js';
import { functionalModelJson } from './helpers/topology-json.js';
import { McDropout, NearestNeighbourDistance, NeighborConv2D, VaeSampling } from '@residuum/train';

beforeAll(useCpuBackend);

const NEIGHBOURS: Array<[number, number]> = [[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1]];

/** Naive NHWC neighbour convolution with 'same' zero padding, straight from the convention. */
function neighbourConvReference(x: Float32Array, [n, h, w, c]: number[], kernel: Float32Array, bias: Float32Array, units: number): Float32Array {
  const out = new Float32Array(n * h * w * units);
  for (let b = 0; b < n; b += 1)
    for (let y = 0; y < h; y += 1)
      for (let xx = 0; xx < w; xx += 1)
        for (let u = 0; u < units; u += 1) {
          let sum = bias[u];
          NEIGHBOURS.forEach(([dy, dx], k) => {
            const yy = y + dy;
            const xs = xx + dx;
            if (yy < 0 || yy >= h || xs < 0 || xs >= w) return;
            for (let ci = 0; ci < c; ci += 1) sum += x[((b * h + yy) * w + xs) * c + ci] * kernel[(k * c + ci) * units + u];
          });
          out[((b * h + y) * w + xx) * units + u] = Math.max(sum, 0);
        }
  return out;
}

describe('hand-written topology (convention layouts)', () => {
  it('NeighborConv2D becomes a 3x3 Conv with a zero centre tap', async () => {
    const random = seededRandom(5);
    const [n, h, w, c, units] = [3, 5, 7, 2, 4];
    const kernel = randomArray(8 * c * units, random);
    const bias = randomArray(units, random);
    const { modelJson, weights } = functionalModelJson([h, w, c], [
      { name: 'nconv', className: 'NeighborConv2D', config: { units, activation: 'relu', useBias: true }, inputs: ['input'] },
    ], ['nconv'], [{ name: 'nconv/kernel', shape: [8, c, units], values: kernel }, { name: 'nconv/bias', shape: [units], values: bias }]);
    const { onnx } = convertLayersModel({ modelJson, weights });
    expectValidOnnx(onnx);
    const x = randomArray(n * h * w * c, random);
    const expected = nhwcToNchw(neighbourConvReference(x, [n, h, w, c], kernel, bias, units), [n, h, w, units]);
    const feeds = { input: { data: nhwcToNchw(x, [n, h, w, c]), dims: [n, c, h, w] } };
    const out = await runOrtNode(onnx, feeds);
    expect(maxAbsDiff(out.reconstruction, { data: expected, dims: [n, units, h, w] })).toBeLessThanOrEqual(1e-5);
    // The centre pixel really is excluded: changing only it leaves its own output unchanged.
    const bumped = Float32Array.from(feeds.input.data);
    for (let ci = 0; ci < c; ci += 1) bumped[(ci * h + 2) * w + 3] += 10;
    const out2 = await runOrtNode(onnx, { input: { data: bumped, dims: feeds.input.dims } });
    for (let u = 0; u < units; u += 1) {
      const i = (u * h + 2) * w + 3;
      expect(out2.reconstruction.data[i]).toBeCloseTo(out.reconstruction.data[i], 6);
    }
  });

  it('McDropout becomes Mul by a mask input mc_mask_<k>, listed in report and card', async () => {
    const random = seededRandom(8);
    const { modelJson, weights } = functionalModelJson([4, 5, 3], [
      { name: 'drop_a', className: 'McDropout', config: { rate: 0.25 }, inputs: ['input'] },
      { name: 'flat', className: 'Flatten', config: {}, inputs: ['drop_a'] },
      { name: 'drop_b', className: 'McDropout', config: { rate: 0.5 }, inputs: ['flat'] },
    ], ['drop_b'], []);
    const card = sampleCard(3, { width: 5, height: 4 }, [{ name: 'reconstruction', meaning: 'reconstruction', shape: ['N', 60] }]);
    const result = convertLayersModel({ modelJson, weights, card });
    expectValidOnnx(result.onnx);
    expect(result.report.mcMaskInputs).toEqual([
      { name: 'mc_mask_0', shape: ['N', 3, 4, 5], rate: 0.25, layer: 'drop_a' },
      { name: 'mc_mask_1', shape: ['N', 60], rate: 0.5, layer: 'drop_b' },
    ]);
    expect(result.card?.mcDropout?.maskInputs).toEqual([
      { name: 'mc_mask_0', shape: ['N', 3, 4, 5], rate: 0.25 },
      { name: 'mc_mask_1', shape: ['N', 60], rate: 0.5 },
    ]);
    const n = 2;
    const x = randomArray(n * 60, random);
    const maskA = Float32Array.from({ length: n * 60 }, () => (random() < 0.25 ? 0 : 1 / 0.75));
    const maskB = Float32Array.from({ length: n * 60 }, () => (random() < 0.5 ? 0 : 2));
    const feeds = { input: { data: x, dims: [n, 3, 4, 5] }, mc_mask_0: { data: maskA, dims: [n, 3, 4, 5] }, mc_mask_1: { data: maskB, dims: [n, 60] } };
    // Expected: NCHW x * maskA, flattened in NHWC order, times maskB.
    const masked = x.map((v, i) => v * maskA[i]);
    const nhwc = new Float32Array(n * 60);
    for (let b = 0; b < n; b += 1)
      for (let ch = 0; ch < 3; ch += 1)
        for (let y = 0; y < 4; y += 1)
          for (let xx = 0; xx < 5; xx += 1) nhwc[b * 60 + (y * 5 + xx) * 3 + ch] = masked[b * 60 + (ch * 4 + y) * 5 + xx];
    const expected = { data: nhwc.map((v, i) => v * maskB[i]), dims: [n, 60] };
    for (const run of [runOrtNode, runOrtWeb]) {
      const out = await run(result.onnx, feeds);
      expect(maxAbsDiff(out.reconstruction, expected)).toBeLessThanOrEqual(1e-6);
    }
  });

  it('VaeSampling is its mean input', async () => {
    const random = seededRandom(9);
    const kernelMean = randomArray(24 * 2, random);
    const kernelLogVar = randomArray(24 * 2, random);
    const { modelJson, weights } = functionalModelJson([2, 4, 3], [
      { name: 'flat', className: 'Flatten', config: {}, inputs: ['input'] },
      { name: 'mean', className: 'Dense', config: { units: 2, use_bias: false, activation: 'linear' }, inputs: ['flat'] },
      { name: 'logvar', className: 'Dense', config: { units: 2, use_bias: false, activation: 'linear' }, inputs: ['flat'] },
      { name: 'z', className: 'VaeSampling', config: {}, inputs: ['mean', 'logvar'] },
    ], ['z', 'mean', 'logvar'], [
      { name: 'mean/kernel', shape: [24, 2], values: kernelMean },
      { name: 'logvar/kernel', shape: [24, 2], values: kernelLogVar },
    ]);
    const { onnx } = convertLayersModel({ modelJson, weights, outputNames: ['z', 'latent_mean', 'latent_log_variance'] });
    expectValidOnnx(onnx);
    const out = await runOrtNode(onnx, { input: { data: randomArray(2 * 24, random), dims: [2, 3, 2, 4] } });
    expect(Array.from(out.z.data)).toEqual(Array.from(out.latent_mean.data));
    expect(maxAbsDiff(out.z, out.latent_log_variance)).toBeGreaterThan(1e-3);
  });
});

describe('real @residuum/train layer classes', () => {
  it('NeighborConv2D (+ BatchNormalization folded into it) matches predict', async () => {
    const input = tf.input({ shape: [7, 9, 3] });
    let x = new NeighborConv2D({ units: 5, activation: 'linear', useBias: false, seed: 1 }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
    x = new NeighborConv2D({ units: 2, activation: 'tanh', useBias: true, seed: 2 }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: x });
    randomizeWeights(model, 4);
    const result = await checkParity(model, { batch: 3 });
    expect(result.nodeDiff.reconstruction).toBeLessThanOrEqual(1e-4);
    expect(result.webDiff.reconstruction).toBeLessThanOrEqual(1e-4);
    expect(result.conversion.report.foldedBatchNorms).toBe(1);
  });

  it('McDropout (inactive in predict) matches the graph fed with masks of 1.0', async () => {
    const input = tf.input({ shape: [6, 5, 2] });
    let x = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    x = new McDropout({ rate: 0.3, seed: 3 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
    x = new McDropout({ rate: 0.1, seed: 4 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: 4 }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: x });
    randomizeWeights(model, 5);
    const result = await checkParity(model, { batch: 3 });
    expect(result.nodeDiff.reconstruction).toBeLessThanOrEqual(1e-4);
    expect(result.webDiff.reconstruction).toBeLessThanOrEqual(1e-4);
    expect(result.conversion.report.mcMaskInputs.map((m) => [m.name, m.shape, m.rate])).toEqual([
      ['mc_mask_0', ['N', 3, 6, 5], 0.3],
      ['mc_mask_1', ['N', 90], 0.1],
    ]);
  });

  it('VaeSampling exports its mean (predict is deterministic at inference too)', async () => {
    const input = tf.input({ shape: [4, 4, 1] });
    const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
    const mean = tf.layers.dense({ units: 3, name: 'latent_mean' }).apply(flat) as tf.SymbolicTensor;
    const logVar = tf.layers.dense({ units: 3, name: 'latent_log_variance' }).apply(flat) as tf.SymbolicTensor;
    const z = new VaeSampling({ seed: 1 }).apply([mean, logVar]) as tf.SymbolicTensor;
    const decoded = tf.layers.dense({ units: 16, activation: 'sigmoid' }).apply(z) as tf.SymbolicTensor;
    const out = tf.layers.reshape({ targetShape: [4, 4, 1], name: 'reconstruction' }).apply(decoded) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [out, mean, logVar] });
    randomizeWeights(model, 6);
    const result = await checkParity(model, { batch: 3, convert: { outputNames: ['reconstruction', 'latent_mean', 'latent_log_variance'] } });
    for (const diff of [...Object.values(result.nodeDiff), ...Object.values(result.webDiff)]) expect(diff).toBeLessThanOrEqual(1e-4);
  });

  it('NearestNeighbourDistance (PatchCore bank over several chunks) matches predict and a float64 search in both runtimes', async () => {
    const [h, w, dim, bankSize] = [3, 4, 5, 23];
    const input = tf.input({ shape: [h, w, dim] });
    const layer = new NearestNeighbourDistance({ bankSize, chunkSize: 7 });
    const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
    const random = seededRandom(8);
    const bank = randomArray(bankSize * dim, random);
    layer.setBank(bank);
    const result = await checkParity(model, { batch: 2, convert: { outputNames: ['patch_distance'] } });
    expect(result.nodeDiff.patch_distance).toBeLessThanOrEqual(1e-4);
    expect(result.webDiff.patch_distance).toBeLessThanOrEqual(1e-4);
    expect(result.conversion.report.outputs).toEqual([{ name: 'patch_distance', shape: ['N', 1, h, w] }]);
    // predict itself against a brute-force float64 nearest neighbour.
    const x = randomArray(h * w * dim, random);
    const predicted = (model.predict(tf.tensor4d(x, [1, h, w, dim])) as tf.Tensor).dataSync();
    for (let p = 0; p < h * w; p++) {
      let best = Infinity;
      for (let k = 0; k < bankSize; k++) {
        let d = 0;
        for (let c = 0; c < dim; c++) d += (x[p * dim + c] - bank[k * dim + c]) ** 2;
        best = Math.min(best, d);
      }
      expect(predicted[p]).toBeCloseTo(Math.sqrt(best), 4);
    }
  });
});
