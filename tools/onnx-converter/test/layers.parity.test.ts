/**
 * One parity test per layer type: random weights, odd shapes, batch 3; onnxruntime-node CPU
 * vs model.predict within 1e-4, onnxruntime-web WASM likewise, and the ONNX checker passes
 * (inside checkParity).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { checkParity, randomizeWeights, tf, useCpuBackend, worst } from './helpers/tfjs-harness.js';

type Sym = tf.SymbolicTensor;
type LayerFactory = () => tf.layers.Layer;
const TOLERANCE = 1e-4;

beforeAll(useCpuBackend);

/** input -> layers in order -> output. */
function chain(inputShape: number[], factories: LayerFactory[]): tf.LayersModel {
  const input = tf.input({ shape: inputShape });
  let x: Sym = input;
  for (const make of factories) x = make().apply(x) as Sym;
  return tf.model({ inputs: input, outputs: x });
}

/** One output per branch, each branch applied to the input. */
function branches(inputShape: number[], factories: Record<string, LayerFactory[]>): { model: tf.LayersModel; names: string[] } {
  const input = tf.input({ shape: inputShape });
  const outputs = Object.values(factories).map((list) => {
    let x: Sym = input;
    for (const make of list) x = make().apply(x) as Sym;
    return x;
  });
  return { model: tf.model({ inputs: input, outputs }), names: Object.keys(factories) };
}

async function expectParity(model: tf.LayersModel, outputNames?: string[], seed = 11) {
  randomizeWeights(model, seed);
  const result = await checkParity(model, { batch: 3, seed, convert: outputNames ? { outputNames } : {} });
  for (const [name, diff] of Object.entries(result.nodeDiff)) expect(diff, `onnxruntime-node vs predict, output ${name}`).toBeLessThanOrEqual(TOLERANCE);
  for (const [name, diff] of Object.entries(result.webDiff)) expect(diff, `onnxruntime-web vs predict, output ${name}`).toBeLessThanOrEqual(TOLERANCE);
  return result;
}

describe('Conv2D', () => {
  it('same padding, stride 1, bias, fused relu, odd size', async () => {
    await expectParity(chain([7, 9, 3], [() => tf.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' })]));
  });
  it('valid padding, stride 2, no bias, fused tanh', async () => {
    await expectParity(chain([9, 8, 2], [() => tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, activation: 'tanh' })]));
  });
  it('same padding with an even kernel and stride 2 on odd sizes (asymmetric pads)', async () => {
    await expectParity(chain([7, 11, 3], [() => tf.layers.conv2d({ filters: 3, kernelSize: 4, strides: 2, padding: 'same' })]));
  });
  it('dilation 2, same padding, fused elu', async () => {
    await expectParity(chain([9, 10, 2], [() => tf.layers.conv2d({ filters: 3, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'elu' })]));
  });
  it('rectangular kernel and strides, valid, fused selu', async () => {
    await expectParity(chain([8, 7, 1], [() => tf.layers.conv2d({ filters: 2, kernelSize: [3, 2], strides: [2, 1], padding: 'valid', activation: 'selu' })]));
  });
});

describe('Conv2DTranspose', () => {
  const cases: Array<[string, number, number, 'same' | 'valid']> = [
    ['same, kernel 3, stride 2', 3, 2, 'same'],
    ['valid, kernel 3, stride 2', 3, 2, 'valid'],
    ['same, kernel 2 < stride 3 (output padding)', 2, 3, 'same'],
    ['valid, kernel 2 < stride 3 (output padding)', 2, 3, 'valid'],
    ['same, kernel 4, stride 2', 4, 2, 'same'],
    ['same, kernel 5, stride 1', 5, 1, 'same'],
  ];
  for (const [title, kernelSize, strides, padding] of cases) {
    it(title, async () => {
      const model = chain([5, 7, 3], [() => tf.layers.conv2dTranspose({ filters: 4, kernelSize, strides, padding })]);
      const result = await expectParity(model);
      const factor = strides;
      const expected = padding === 'same' ? [5 * factor, 7 * factor] : [5 * factor + Math.max(kernelSize - factor, 0), 7 * factor + Math.max(kernelSize - factor, 0)];
      expect(result.conversion.report.outputs[0].shape).toEqual(['N', 4, ...expected]);
    });
  }
  it('no bias, fused sigmoid', async () => {
    await expectParity(chain([4, 5, 2], [() => tf.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', useBias: false, activation: 'sigmoid' })]));
  });
});

describe('DepthwiseConv2D and SeparableConv2D', () => {
  it('depthwise, multiplier 2, same, stride 2, relu6', async () => {
    await expectParity(chain([7, 9, 3], [() => tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', activation: 'relu6' })]));
  });
  it('depthwise, valid, no bias', async () => {
    await expectParity(chain([6, 7, 2], [() => tf.layers.depthwiseConv2d({ kernelSize: [2, 3], padding: 'valid', useBias: false })]));
  });
  it('separable, multiplier 2', async () => {
    await expectParity(chain([7, 8, 3], [() => tf.layers.separableConv2d({ filters: 5, kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu' })]));
  });
});

describe('BatchNormalization', () => {
  it('is folded into a preceding linear Conv2D, ConvTranspose and DepthwiseConv2D', async () => {
    const model = chain([7, 9, 3], [
      () => tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }),
      () => tf.layers.batchNormalization(),
      () => tf.layers.reLU(),
      () => tf.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', useBias: false }),
      () => tf.layers.batchNormalization({ epsilon: 0.01 }),
      () => tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }),
      () => tf.layers.batchNormalization(),
    ]);
    const result = await expectParity(model);
    expect(result.conversion.report.foldedBatchNorms).toBe(3);
  });
  it('stays a BatchNormalization node after an activation, on the input, and on vectors; center/scale off', async () => {
    const input = tf.input({ shape: [5, 7, 3] });
    const bnOnInput = tf.layers.batchNormalization({ center: false }).apply(input) as Sym;
    const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu' }).apply(bnOnInput) as Sym;
    const bnAfterActivation = tf.layers.batchNormalization({ scale: false }).apply(conv) as Sym;
    const dense = tf.layers.dense({ units: 6 }).apply(tf.layers.flatten().apply(bnAfterActivation)) as Sym;
    const bnVector = tf.layers.batchNormalization().apply(dense) as Sym;
    const model = tf.model({ inputs: input, outputs: bnVector });
    const result = await expectParity(model);
    expect(result.conversion.report.foldedBatchNorms).toBe(0);
  });
  it('is not folded when the conv output has a second consumer', async () => {
    const input = tf.input({ shape: [5, 6, 2] });
    const conv = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(input) as Sym;
    const bn = tf.layers.batchNormalization().apply(conv) as Sym;
    const sum = tf.layers.add().apply([conv, bn]) as Sym;
    const result = await expectParity(tf.model({ inputs: input, outputs: sum }));
    expect(result.conversion.report.foldedBatchNorms).toBe(0);
  });
});

describe('activations', () => {
  it('activation layers: ReLU, ReLU(maxValue=6), LeakyReLU, ELU, Softmax, ThresholdedReLU', async () => {
    const { model, names } = branches([5, 7, 4], {
      relu: [() => tf.layers.reLU()],
      relu6: [() => tf.layers.reLU({ maxValue: 6 })],
      clip2: [() => tf.layers.reLU({ maxValue: 0.25 })],
      leaky: [() => tf.layers.leakyReLU({ alpha: 0.1 })],
      leakyDefault: [() => tf.layers.leakyReLU()],
      elu: [() => tf.layers.elu()],
      softmaxChannels: [() => tf.layers.softmax({ axis: -1 })],
      softmaxVectorDefaultAxis: [() => tf.layers.flatten(), () => tf.layers.softmax()],
      thresholded: [() => tf.layers.thresholdedReLU({ theta: 0.2 })],
    });
    await expectParity(model, names);
  });
  it('Activation layer with every supported TF.js activation (scaled input so relu6 clips)', async () => {
    const kinds = ['relu', 'relu6', 'sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'softsign', 'hardSigmoid', 'softmax', 'swish', 'mish', 'gelu', 'gelu_new', 'linear'] as const;
    const factories: Record<string, LayerFactory[]> = {};
    for (const kind of kinds) {
      factories[kind] = [
        () => tf.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: tf.initializers.constant({ value: 8 }) }),
        () => tf.layers.activation({ activation: kind }),
      ];
    }
    const { model, names } = branches([3, 5, 2], factories);
    // Large weights push values past relu6's clip and into the saturating ranges.
    randomizeWeights(model, 3);
    for (const layer of model.layers) if (layer.getWeights().length > 0) layer.setWeights(layer.getWeights().map((w) => w.mul(16)));
    const result = await checkParity(model, { batch: 3, convert: { outputNames: names } });
    for (const [name, diff] of Object.entries(result.nodeDiff)) expect(diff, name).toBeLessThanOrEqual(TOLERANCE * 10);
    for (const [name, diff] of Object.entries(result.webDiff)) expect(diff, name).toBeLessThanOrEqual(TOLERANCE * 10);
  });
  it('Dense with softmax on vectors', async () => {
    await expectParity(chain([3, 4, 2], [() => tf.layers.flatten(), () => tf.layers.dense({ units: 5, activation: 'softmax' })]));
  });
});

describe('pooling', () => {
  it('MaxPooling2D and AveragePooling2D, same and valid, strides, odd sizes', async () => {
    const { model, names } = branches([7, 9, 3], {
      maxSame: [() => tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' })],
      maxValid: [() => tf.layers.maxPooling2d({ poolSize: 2, padding: 'valid' })],
      avgSame: [() => tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' })],
      avgSameStride1: [() => tf.layers.averagePooling2d({ poolSize: [2, 3], strides: 1, padding: 'same' })],
      avgValid: [() => tf.layers.averagePooling2d({ poolSize: [3, 2], strides: [2, 3], padding: 'valid' })],
    });
    await expectParity(model, names);
  });
  it("AveragePooling2D 'same' stride 1 with windows 5, 7 and 9 (PatchCore's local window): border cells average only the valid cells", async () => {
    // 8x9 input: window 9 pads 4 on every side, more than half the rows, so most outputs are border outputs.
    const { model, names } = branches([8, 9, 3], {
      avgSame5: [() => tf.layers.averagePooling2d({ poolSize: 5, strides: 1, padding: 'same' })],
      avgSame7: [() => tf.layers.averagePooling2d({ poolSize: 7, strides: 1, padding: 'same' })],
      avgSame9: [() => tf.layers.averagePooling2d({ poolSize: 9, strides: 1, padding: 'same' })],
    });
    await expectParity(model, names);
    // Independent of both runtimes: corner (0, 0) of window 5 is the mean of the 3x3 valid cells.
    const input = tf.tensor4d(Float32Array.from({ length: 8 * 9 * 3 }, (_, i) => (i % 13) - 6), [1, 8, 9, 3]);
    const [five] = model.predict(input) as tf.Tensor[];
    const values = input.arraySync()[0];
    let sum = 0;
    for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) sum += values[y][x][1];
    expect((five.arraySync() as number[][][][])[0][0][0][1]).toBeCloseTo(sum / 9, 5);
    tf.dispose([input, five]);
  });
  it('GlobalAveragePooling2D and GlobalMaxPooling2D into Dense', async () => {
    const { model, names } = branches([5, 7, 4], {
      gap: [() => tf.layers.globalAveragePooling2d({}), () => tf.layers.dense({ units: 3 })],
      gmp: [() => tf.layers.globalMaxPooling2d({})],
    });
    await expectParity(model, names);
  });
});

describe('resampling, padding, cropping', () => {
  it('UpSampling2D nearest and bilinear with TF.js coordinates', async () => {
    const { model, names } = branches([5, 7, 2], {
      nearest2: [() => tf.layers.upSampling2d({ size: [2, 2] })],
      nearest23: [() => tf.layers.upSampling2d({ size: [2, 3] })],
      bilinear2: [() => tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' })],
      bilinear32: [() => tf.layers.upSampling2d({ size: [3, 2], interpolation: 'bilinear' })],
    });
    await expectParity(model, names);
  });
  it('ZeroPadding2D and Cropping2D', async () => {
    const { model, names } = branches([6, 7, 3], {
      pad: [() => tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 3]] })],
      padSymmetric: [() => tf.layers.zeroPadding2d({ padding: 1 })],
      crop: [() => tf.layers.cropping2D({ cropping: [[1, 0], [2, 1]] })],
      cropBoth: [() => tf.layers.cropping2D({ cropping: [1, 2] })],
    });
    await expectParity(model, names);
  });
});

describe('merging', () => {
  it('Concatenate on channels, height and width', async () => {
    const input = tf.input({ shape: [5, 7, 3] });
    const a = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same' }).apply(input) as Sym;
    const b = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same' }).apply(input) as Sym;
    const channels = tf.layers.concatenate({ axis: -1 }).apply([input, a]) as Sym;
    const height = tf.layers.concatenate({ axis: 1 }).apply([a, b]) as Sym;
    const width = tf.layers.concatenate({ axis: 2 }).apply([a, b, a]) as Sym;
    await expectParity(tf.model({ inputs: input, outputs: [channels, height, width] }), ['channels', 'height', 'width']);
  });
  it('Concatenate vectors', async () => {
    const input = tf.input({ shape: [3, 3, 2] });
    const flat = tf.layers.flatten().apply(input) as Sym;
    const d = tf.layers.dense({ units: 4 }).apply(flat) as Sym;
    await expectParity(tf.model({ inputs: input, outputs: tf.layers.concatenate().apply([flat, d]) as Sym }));
  });
  it('Add, Multiply, Average, Maximum, Minimum', async () => {
    const input = tf.input({ shape: [5, 6, 3] });
    const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(input) as Sym;
    const b = tf.layers.conv2d({ filters: 3, kernelSize: 1 }).apply(input) as Sym;
    const outputs = [
      tf.layers.add().apply([input, a, b]),
      tf.layers.multiply().apply([a, b, input]),
      tf.layers.average().apply([a, b]),
      tf.layers.maximum().apply([a, b]),
      tf.layers.minimum().apply([a, input]),
    ] as Sym[];
    await expectParity(tf.model({ inputs: input, outputs }), ['add', 'multiply', 'average', 'maximum', 'minimum']);
  });
});

describe('Dense, Flatten, Reshape', () => {
  it('Flatten keeps the NHWC element order for the following Dense', async () => {
    await expectParity(chain([5, 7, 3], [() => tf.layers.flatten(), () => tf.layers.dense({ units: 6, activation: 'tanh' })]));
  });
  it('Dense on an image acts on channels', async () => {
    await expectParity(chain([4, 5, 3], [() => tf.layers.dense({ units: 2 })]));
  });
  it('Dense -> Reshape to an image (decoder) -> Conv2DTranspose', async () => {
    await expectParity(chain([6, 5, 2], [
      () => tf.layers.flatten(),
      () => tf.layers.dense({ units: 3 * 4 * 5, activation: 'relu' }),
      () => tf.layers.reshape({ targetShape: [3, 4, 5] }),
      () => tf.layers.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, padding: 'same' }),
    ]));
  });
  it('Reshape image -> [rows, features] -> Dense, with -1 in the target', async () => {
    await expectParity(chain([4, 3, 2], [() => tf.layers.reshape({ targetShape: [-1, 6] }), () => tf.layers.dense({ units: 3 })]));
  });
});

describe('inference-time identities', () => {
  it('Dropout, GaussianNoise, GaussianDropout, AlphaDropout are identities with a warning', async () => {
    const model = chain([5, 5, 2], [
      () => tf.layers.conv2d({ filters: 3, kernelSize: 3 }),
      () => tf.layers.dropout({ rate: 0.5 }),
      () => tf.layers.gaussianNoise({ stddev: 1 }),
      () => tf.layers.gaussianDropout({ rate: 0.3 }),
      () => tf.layers.alphaDropout({ rate: 0.3 }),
    ]);
    const result = await expectParity(model);
    expect(result.conversion.report.warnings.filter((w) => /identity/.test(w))).toHaveLength(4);
  });
  it('the model input itself as output goes through an Identity', async () => {
    const input = tf.input({ shape: [3, 5, 2] });
    const conv = tf.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(input) as Sym;
    await expectParity(tf.model({ inputs: input, outputs: [input, conv] }), ['echo', 'conv']);
  });
});

describe('Sequential models', () => {
  it('a tf.sequential without an explicit InputLayer converts like a functional model', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [9, 7, 1], filters: 3, kernelSize: 3, strides: 2, padding: 'same', useBias: false }),
        tf.layers.batchNormalization(),
        tf.layers.leakyReLU({ alpha: 0.2 }),
        tf.layers.conv2dTranspose({ filters: 1, kernelSize: 3, strides: 2, padding: 'valid', activation: 'sigmoid' }),
      ],
    });
    const result = await expectParity(model);
    expect(result.conversion.report.foldedBatchNorms).toBe(1);
    expect(result.conversion.report.outputs).toEqual([{ name: 'reconstruction', shape: ['N', 1, 11, 9] }]);
  });
  it('a tf.sequential with an explicit InputLayer', async () => {
    const model = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: [5, 6, 2] }), tf.layers.flatten(), tf.layers.dense({ units: 3 })] });
    await expectParity(model);
  });
});
