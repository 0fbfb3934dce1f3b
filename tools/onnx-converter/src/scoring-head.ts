/**
 * The scoring head: the card's pixel anomaly map (score.map: squared / absolute residual or 1 - SSIM,
 * channel reduction, Gaussian smoothing) appended to the graph as an extra output, so the runtime
 * gets the map from onnxruntime's native kernels instead of computing it in JavaScript (on a line
 * PC the 1 - SSIM map at 256 px costs about 4 ms per image in JS and about 1.3 ms in the graph).
 * The numbers follow @residuum/scoring's anomalyMap (Gaussian windows with scipy's 'reflect'
 * borders, population moments), in float32 instead of float64: map values differ by about 1e-6.
 */
import { gaussianKernel, reflectIndices, smoothingRadius, SSIM_DEFAULTS, ssimStabilizers, type AnomalyMapSpec, type ModelCard, type OutputSpec } from '@residuum/scoring';
import type { GraphBuilder } from './graph-builder.js';
import { attr } from './onnx-model.js';

export const SCORING_HEAD_OUTPUT = 'anomaly_map';

/** Whether the card's map can be computed in the graph; the reason when it cannot. */
export function scoringHeadSupport(card: ModelCard): { supported: true } | { supported: false; reason: string } {
  const map = card.score.map;
  if (map.kind === 'model-output') return { supported: false, reason: 'the model outputs its own map' };
  if (map.positionStandardization) return { supported: false, reason: 'score.map.positionStandardization is applied by the runtime' };
  if (card.mcDropout) return { supported: false, reason: 'MC-Dropout scores the mean reconstruction of several passes' };
  const reconstruction = card.outputs.find((o) => o.meaning === 'reconstruction');
  if (!reconstruction) return { supported: false, reason: "the card has no 'reconstruction' output" };
  if (JSON.stringify(reconstruction.shape) !== JSON.stringify(card.input.shape)) {
    return { supported: false, reason: `the reconstruction ${JSON.stringify(reconstruction.shape)} is not shaped like the input ${JSON.stringify(card.input.shape)}` };
  }
  return { supported: true };
}

/** The card entry of the head's output. */
export function scoringHeadOutput(card: ModelCard): OutputSpec {
  const [, , height, width] = card.input.shape;
  const { kind, channelReduction, smoothingSigma } = card.score.map;
  const what = kind === 'ssim' ? '1 - SSIM' : kind === 'squared' ? 'squared residual' : 'absolute residual';
  return {
    name: SCORING_HEAD_OUTPUT,
    meaning: 'anomaly-map',
    shape: ['N', 1, height, width],
    description: `score.map computed in the graph: ${what} of input and reconstruction, channel ${channelReduction}${smoothingSigma > 0 ? `, Gaussian smoothing sigma ${smoothingSigma}` : ''}`,
  };
}

function ssimRadius(map: AnomalyMapSpec): number {
  return ((map.ssimWindowSize ?? SSIM_DEFAULTS.windowSize) - 1) / 2;
}

/**
 * Appends the head: reads the graph input `input` and the float32 reconstruction value, writes
 * the [N, 1, H, W] map to the reserved output name SCORING_HEAD_OUTPUT. Call only when
 * scoringHeadSupport(card) says so.
 */
export function appendScoringHead(b: GraphBuilder, card: ModelCard, input: string, reconstruction: string): void {
  const map = card.score.map;
  const [, channels, height, width] = card.input.shape;
  let perChannel: string;
  if (map.kind === 'ssim') perChannel = oneMinusSsim(b, card, input, reconstruction);
  else {
    const difference = b.node('Sub', [input, reconstruction], [], 'head/difference');
    perChannel = map.kind === 'squared' ? b.node('Mul', [difference, difference], [], 'head/squared') : b.node('Abs', [difference], [], 'head/absolute');
  }
  let reduced = perChannel;
  if (channels > 1) {
    if (map.channelReduction === 'sum') reduced = b.node('ReduceSum', [perChannel, b.int64Const('head/channel_axis', [1])], [attr.int('keepdims', 1)], 'head/channel_sum');
    else reduced = b.node(map.channelReduction === 'max' ? 'ReduceMax' : 'ReduceMean', [perChannel], [attr.ints('axes', [1]), attr.int('keepdims', 1)], `head/channel_${map.channelReduction}`);
  }
  if (map.smoothingSigma > 0) {
    const radius = smoothingRadius(map.smoothingSigma);
    reduced = gaussianFilter(b, reduced, 1, height, width, gaussianKernel(map.smoothingSigma, radius), 'head/smooth');
  }
  b.nodeTo('Identity', [reduced], [], SCORING_HEAD_OUTPUT);
}

/**
 * 1 - SSIM per channel, [N, C, H, W]: the five local moments of every channel in one grouped filter.
 * The moments are taken of x - m and y - m, m = the middle of the channel's normalized pixel range:
 * variances and covariance do not change, and E[x^2] - E[x]^2 cancels far less in float32 when the
 * values sit near 0 than when they sit near 0.5. On the casting test set the image scores of
 * models/cae-casting.onnx (the CAE default of the time) differ from JavaScript's float64 by at most 8.8e-7 this way (3.7e-6 without).
 */
function oneMinusSsim(b: GraphBuilder, card: ModelCard, inputX: string, inputY: string): string {
  const map = card.score.map;
  const channels = card.input.shape[1];
  const { c1: c1Value, c2: c2Value } = ssimStabilizers(map.ssimDynamicRange ?? SSIM_DEFAULTS.dynamicRange);
  const kernel = gaussianKernel(map.ssimSigma ?? SSIM_DEFAULTS.sigma, ssimRadius(map));
  const { mean, std } = card.preprocessing;
  const middle = b.floatConst('head/ssim/middle', Array.from({ length: channels }, (_, c) => (0.5 - mean[c]) / std[c]), [1, channels, 1, 1], true).name;
  const x = b.node('Sub', [inputX, middle], [], 'head/ssim/x_centred');
  const y = b.node('Sub', [inputY, middle], [], 'head/ssim/y_centred');
  const xx = b.node('Mul', [x, x], [], 'head/ssim/xx');
  const yy = b.node('Mul', [y, y], [], 'head/ssim/yy');
  const xy = b.node('Mul', [x, y], [], 'head/ssim/xy');
  const stacked = b.node('Concat', [x, y, xx, yy, xy], [attr.int('axis', 1)], 'head/ssim/stacked');
  const [, , height, width] = card.input.shape;
  const moments = gaussianFilter(b, stacked, 5 * channels, height, width, kernel, 'head/ssim/window');
  const splitSizes = b.int64Const('head/ssim/split', new Array<number>(5).fill(channels));
  const [mxCentred, myCentred, mxx, myy, mxy] = b.nodeOutputs(
    'Split',
    [moments, splitSizes],
    [attr.int('axis', 1)],
    ['mean_x', 'mean_y', 'mean_xx', 'mean_yy', 'mean_xy'].map((n) => `head/ssim/${n}`),
    'head/ssim/moments',
  );
  const scalar = (name: string, value: number) => b.floatConst(`head/ssim/${name}`, [value], [], true).name;
  const c1 = scalar('c1', c1Value);
  const c2 = scalar('c2', c2Value);
  const two = scalar('two', 2);
  const one = scalar('one', 1);
  const node = (op: string, inputs: string[], base: string) => b.node(op, inputs, [], `head/ssim/${base}`);
  const covariance = node('Sub', [mxy, node('Mul', [mxCentred, myCentred], 'centred_mean_product')], 'covariance');
  const varianceX = node('Sub', [mxx, node('Mul', [mxCentred, mxCentred], 'centred_mean_x_sq')], 'variance_x');
  const varianceY = node('Sub', [myy, node('Mul', [myCentred, myCentred], 'centred_mean_y_sq')], 'variance_y');
  const mx = node('Add', [mxCentred, middle], 'mean_x');
  const my = node('Add', [myCentred, middle], 'mean_y');
  const mxmy = node('Mul', [mx, my], 'mean_x_mean_y');
  const mxSquared = node('Mul', [mx, mx], 'mean_x_sq');
  const mySquared = node('Mul', [my, my], 'mean_y_sq');
  const luminanceNum = node('Add', [node('Mul', [two, mxmy], 'two_mean_x_mean_y'), c1], 'luminance_num');
  const contrastNum = node('Add', [node('Mul', [two, covariance], 'two_covariance'), c2], 'contrast_num');
  const luminanceDen = node('Add', [node('Add', [mxSquared, mySquared], 'mean_sq_sum'), c1], 'luminance_den');
  const contrastDen = node('Add', [node('Add', [varianceX, varianceY], 'variance_sum'), c2], 'contrast_den');
  const ssim = node('Div', [node('Mul', [luminanceNum, contrastNum], 'numerator'), node('Mul', [luminanceDen, contrastDen], 'denominator')], 'ssim');
  return node('Sub', [one, ssim], 'one_minus_ssim');
}

/**
 * Separable Gaussian filter of every channel of an [N, channels, H, W] value (depthwise: one group
 * per channel), borders as scipy's 'reflect' (d c b a | a b c d | d c b a), which ONNX Pad's
 * 'reflect' is not (it leaves out the edge pixel).
 */
function gaussianFilter(b: GraphBuilder, value: string, channels: number, height: number, width: number, kernel: Float64Array, base: string): string {
  const taps = kernel.length;
  const radius = (taps - 1) / 2;
  const weights = Float32Array.from(kernel);
  const perChannel = (dims: number[]) => {
    const values = new Float32Array(channels * taps);
    for (let c = 0; c < channels; c++) values.set(weights, c * taps);
    return b.floatConst(`${base}/kernel`, values, [channels, 1, ...dims], true).name;
  };
  const conv = (input: string, dims: [number, number], name: string) =>
    b.node('Conv', [input, perChannel(dims)], [attr.int('group', channels), attr.ints('kernel_shape', dims)], `${base}/${name}`);
  const horizontal = conv(reflectPad(b, value, 3, width, radius, `${base}/pad_x`), [1, taps], 'x');
  return conv(reflectPad(b, horizontal, 2, height, radius, `${base}/pad_y`), [taps, 1], 'y');
}

/**
 * Pads `radius` values on both ends of `axis` (length `length`) the scipy 'reflect' way: one Gather
 * with the padded axis's source indices (any radius, several reflections included). A Gather, not
 * Slice with negative steps, which onnxruntime's WebGPU provider got wrong at the borders.
 */
function reflectPad(b: GraphBuilder, value: string, axis: number, length: number, radius: number, base: string): string {
  if (radius === 0) return value;
  const indices = b.int64Const(`${base}/indices`, Array.from(reflectIndices(length, radius)));
  return b.node('Gather', [value, indices], [attr.int('axis', axis)], `${base}/padded`);
}
