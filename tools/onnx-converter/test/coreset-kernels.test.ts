/** The coreset kernels (greedy k-center step, projection) against JavaScript, and the trainer's embedded copy. */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildKCenterStepModel, buildProjectionModel } from '../src/index.js';
import { GENERATED_KERNELS, generatedKernelsSource } from '../scripts/write-coreset-kernels.js';
import { checkOnnxModels } from './helpers/onnx-checker.js';
import { randomArray, seededRandom } from './helpers/tfjs-harness.js';

describe('coreset kernels', () => {
  it('one k-center step lowers each distance to the new center and names the farthest point', async () => {
    const [n, dim] = [200, 12];
    const points = randomArray(n * dim, seededRandom(5));
    const norms = Float32Array.from({ length: n }, (_, i) => points.subarray(i * dim, (i + 1) * dim).reduce((s, v) => s + v * v, 0));
    const previous = randomArray(n, seededRandom(6), 0, 8);
    const center = points.slice(17 * dim, 18 * dim);
    const session = await ort.InferenceSession.create(buildKCenterStepModel());
    const out = await session.run({
      points: new ort.Tensor('float32', points, [n, dim]),
      norms: new ort.Tensor('float32', norms, [n]),
      min_distances: new ort.Tensor('float32', previous, [n]),
      center: new ort.Tensor('float32', center, [dim]),
    });
    const got = out.min_distances_out.data as Float32Array;
    let farthest = 0;
    for (let i = 0; i < n; i++) {
      let d2 = 0;
      for (let d = 0; d < dim; d++) d2 += (points[i * dim + d] - center[d]) ** 2;
      const expected = Math.min(previous[i], d2);
      expect(Math.abs(got[i] - expected)).toBeLessThan(1e-5 * (1 + norms[i]));
      if (got[i] > got[farthest]) farthest = i;
    }
    expect(Math.abs(got[17])).toBeLessThan(1e-5);
    expect(Number(out.farthest.data[0])).toBe(farthest);
    await session.release();
  });

  it('the projection is a MatMul', async () => {
    const x = randomArray(6 * 5, seededRandom(1));
    const r = randomArray(5 * 3, seededRandom(2));
    const session = await ort.InferenceSession.create(buildProjectionModel());
    const out = await session.run({ features: new ort.Tensor('float32', x, [6, 5]), projection: new ort.Tensor('float32', r, [5, 3]) });
    const y = out.projected.data as Float32Array;
    for (let i = 0; i < 6; i++)
      for (let k = 0; k < 3; k++) {
        let sum = 0;
        for (let d = 0; d < 5; d++) sum += x[i * 5 + d] * r[d * 3 + k];
        expect(y[i * 3 + k]).toBeCloseTo(sum, 5);
      }
    await session.release();
  });

  it('both pass the ONNX checker, and the trainer embeds exactly these bytes (else run scripts/write-coreset-kernels.ts)', () => {
    expect(checkOnnxModels([buildKCenterStepModel(), buildProjectionModel()]).map((v) => v.message)).toEqual(['', '']);
    expect(readFileSync(GENERATED_KERNELS, 'utf8')).toBe(generatedKernelsSource());
  });
});
