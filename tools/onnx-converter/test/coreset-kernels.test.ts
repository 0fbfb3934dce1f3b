/** The coreset kernel (the projection MatMul) against JavaScript, and the trainer's embedded copy. */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildProjectionModel } from '../src/index.js';
import { GENERATED_KERNELS, generatedKernelsSource } from '../scripts/write-coreset-kernels.js';
import { checkOnnxModels } from './helpers/onnx-checker.js';
import { randomArray, seededRandom } from './helpers/tfjs-harness.js';

describe('coreset kernel', () => {
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

  it('passes the ONNX checker, and the trainer embeds exactly these bytes (else run scripts/write-coreset-kernels.ts)', () => {
    expect(checkOnnxModels([buildProjectionModel()]).map((v) => v.message)).toEqual(['']);
    expect(readFileSync(GENERATED_KERNELS, 'utf8')).toBe(generatedKernelsSource());
  });
});
