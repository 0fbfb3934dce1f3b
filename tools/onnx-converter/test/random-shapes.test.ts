/**
 * Seeded random configurations (sizes, kernels, strides, dilations, paddings) for the layers
 * whose shape arithmetic is the easiest to get wrong; each model has one output per config.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { checkParity, randomizeWeights, seededRandom, tf, useCpuBackend } from './helpers/tfjs-harness.js';

beforeAll(useCpuBackend);

type Sym = tf.SymbolicTensor;
const BRANCHES = 8;

function randomInt(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

async function expectBranchesMatch(seed: number, makeLayer: (random: () => number, h: number, w: number) => tf.layers.Layer) {
  const random = seededRandom(seed);
  const h = randomInt(random, 5, 13);
  const w = randomInt(random, 5, 13);
  const c = randomInt(random, 1, 4);
  const input = tf.input({ shape: [h, w, c] });
  const outputs: Sym[] = [];
  const descriptions: string[] = [];
  for (let i = 0; i < BRANCHES; i += 1) {
    const layer = makeLayer(random, h, w);
    outputs.push(layer.apply(input) as Sym);
    descriptions.push(`${layer.getClassName()} ${JSON.stringify(layer.getConfig())} on ${h}x${w}x${c}`);
  }
  const model = tf.model({ inputs: input, outputs });
  randomizeWeights(model, seed);
  const names = descriptions.map((_, i) => `out${i}`);
  const result = await checkParity(model, { batch: 2, seed, convert: { outputNames: names } });
  names.forEach((name, i) => {
    expect(result.nodeDiff[name], `node: ${descriptions[i]}`).toBeLessThanOrEqual(1e-4);
    expect(result.webDiff[name], `web: ${descriptions[i]}`).toBeLessThanOrEqual(1e-4);
  });
}

const padding = (random: () => number) => (random() < 0.5 ? 'same' : 'valid');

describe('random shapes', () => {
  for (const seed of [101, 202]) {
    it(`Conv2D (seed ${seed})`, async () => {
      await expectBranchesMatch(seed, (random, h, w) => {
        const dilated = random() < 0.3;
        const kernel = randomInt(random, 1, dilated ? 2 : Math.min(5, h, w));
        return tf.layers.conv2d({
          filters: randomInt(random, 1, 4),
          kernelSize: [kernel, randomInt(random, 1, dilated ? 2 : Math.min(5, w))],
          strides: dilated ? 1 : [randomInt(random, 1, 3), randomInt(random, 1, 3)],
          dilationRate: dilated ? randomInt(random, 2, 3) : 1,
          padding: padding(random),
          useBias: random() < 0.5,
        });
      });
    });
    it(`Conv2DTranspose (seed ${seed})`, async () => {
      await expectBranchesMatch(seed + 1, (random) =>
        tf.layers.conv2dTranspose({
          filters: randomInt(random, 1, 4),
          kernelSize: [randomInt(random, 1, 5), randomInt(random, 1, 5)],
          strides: [randomInt(random, 1, 3), randomInt(random, 1, 3)],
          padding: padding(random),
          useBias: random() < 0.5,
        }),
      );
    });
    it(`DepthwiseConv2D and pooling (seed ${seed})`, async () => {
      await expectBranchesMatch(seed + 2, (random, h, w) => {
        const pool: [number, number] = [randomInt(random, 1, Math.min(4, h)), randomInt(random, 1, Math.min(4, w))];
        const strides: [number, number] = [randomInt(random, 1, 3), randomInt(random, 1, 3)];
        const kind = randomInt(random, 0, 2);
        if (kind === 0) return tf.layers.maxPooling2d({ poolSize: pool, strides, padding: padding(random) });
        if (kind === 1) return tf.layers.averagePooling2d({ poolSize: pool, strides, padding: padding(random) });
        return tf.layers.depthwiseConv2d({ kernelSize: pool, strides, depthMultiplier: randomInt(random, 1, 2), padding: padding(random) });
      });
    });
  }
});
