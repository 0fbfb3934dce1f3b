import { beforeAll, expect, it } from 'vitest';
import { checkParity, randomizeWeights, tf, useCpuBackend, worst } from './helpers/tfjs-harness.js';

beforeAll(useCpuBackend);

it('smoke', async () => {
  const input = tf.input({ shape: [7, 9, 3] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x });
  randomizeWeights(model, 1);
  const r = await checkParity(model, { batch: 3 });
  console.log(r.nodeDiff, r.webDiff, r.conversion.report);
  expect(worst(r.nodeDiff)).toBeLessThan(1e-4);
});
