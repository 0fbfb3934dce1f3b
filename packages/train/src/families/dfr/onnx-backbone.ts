/**
 * DFR on a backbone that runs in onnxruntime-node instead of TF.js: the start of `dfr --backbone
 * resnet50`. The ResNet-50 of `residuum backbone get resnet50` (@residuum/onnx-converter's backbone
 * cache) is a 34 MB ONNX feature extractor with one graph output per tap; onnxruntime-node runs it
 * at 10-16 images/s at 224 px (2 threads, shared machine; see the converter's README), so only the
 * small parts - tap aggregation and the autoencoder - stay in TF.js, as the issue asks.
 *
 * Here: the tap extractor (ORT session -> NHWC tap tensors) and the TF.js aggregation model that
 * turns taps into DFR features exactly as `buildFeatureExtractor` does for a TF.js backbone (same
 * layers: bilinear UpSampling2D to the finest tap, Concatenate, cell AveragePooling2D). trainDfr
 * uses them for an OnnxBackboneSpec and saves the head (taps in, `buildDfrHeadOnTaps`) with
 * backbone.json; the export (the converter's convertTrainedModel) splices head and backbone into one ONNX file.
 */
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import type { PreprocessingSpec } from '@residuum/scoring';
import { aggregateFeatures, type DfrGraphShape } from './graph.js';

export interface OnnxBackboneSpec {
  /** ONNX feature extractor: input `input` [N, 3, H, W] float32, one [N, C, h, w] output per tap. */
  onnxPath: string;
  /** Graph output names used as taps, finest grid first. */
  taps: string[];
  /** The backbone's preprocessing without the size (ResNet-50: Caffe style, BGR, 0..255, mean only). */
  preprocessing: Omit<PreprocessingSpec, 'width' | 'height'>;
  /** For the card, e.g. 'resnet50'. */
  name: string;
}

/** ResNet-50 taps of the cached backbone: the outputs of layer1 (stride 4), layer2 (8), layer3 (16). */
export const RESNET50_DFR_TAPS: readonly string[] = ['layer1', 'layer2', 'layer3'];

/** The card preprocessing DFR runs an ONNX backbone with: the backbone's own, at the model size. */
export function onnxBackbonePreprocessing(spec: OnnxBackboneSpec, size: number): PreprocessingSpec {
  if (!Number.isInteger(size) || size < 1) throw new Error(`DFR input size must be a positive integer, got ${String(size)}`);
  if (spec.preprocessing.channels !== 3) throw new Error(`backbone ${spec.name}: an ONNX backbone takes 3-channel input (its preprocessing says ${String(spec.preprocessing.channels)})`);
  return { ...spec.preprocessing, width: size, height: size };
}

export interface TapShape {
  name: string;
  /** [h, w, c] as the TF.js head sees it (NHWC without the batch). */
  shape: [number, number, number];
}

/** Runs the ONNX backbone on preprocessed batches and returns the taps as NHWC TF.js tensors. */
export class OnnxTapExtractor {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: OnnxBackboneSpec,
    readonly inputSize: number,
    readonly taps: TapShape[],
  ) {}

  /** Opens the file and checks its interface: input `input` [N, 3, size, size], every tap an output. */
  static async open(spec: OnnxBackboneSpec, inputSize: number, options: { threads?: number } = {}): Promise<OnnxTapExtractor> {
    if (!Array.isArray(spec.taps) || spec.taps.length === 0) throw new Error(`backbone ${spec.name}: taps must name at least one graph output`);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(spec.onnxPath, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: options.threads ?? 0 });
    } catch (error) {
      throw new Error(`backbone ${spec.name}: cannot open ${spec.onnxPath} with onnxruntime-node: ${(error as Error).message}`);
    }
    if (session.inputNames.length !== 1 || session.inputNames[0] !== 'input') {
      await session.release();
      throw new Error(`backbone ${spec.onnxPath} must have one input named 'input', it has ${JSON.stringify(session.inputNames)}`);
    }
    const missing = spec.taps.filter((t) => !session.outputNames.includes(t));
    if (missing.length > 0) {
      await session.release();
      throw new Error(`backbone ${spec.onnxPath} has no output ${missing.join(', ')} (outputs: ${session.outputNames.join(', ')})`);
    }
    const extractor = new OnnxTapExtractor(session, spec, inputSize, []);
    // One blank image tells the tap shapes at this size (and fails early if the file has a fixed other size).
    const probe = await extractor.runNchw(new Float32Array(3 * inputSize * inputSize), 1);
    extractor.taps.push(...spec.taps.map((name) => ({ name, shape: [probe[name].dims[2], probe[name].dims[3], probe[name].dims[1]] as [number, number, number] })));
    return extractor;
  }

  private async runNchw(nchw: Float32Array, count: number): Promise<Record<string, ort.Tensor>> {
    const size = this.inputSize;
    if (nchw.length !== count * 3 * size * size) throw new Error(`backbone input: ${nchw.length} values are not ${count} x 3 x ${size} x ${size}`);
    try {
      return await this.session.run({ input: new ort.Tensor('float32', nchw, [count, 3, size, size]) }, this.spec.taps);
    } catch (error) {
      throw new Error(`backbone ${this.spec.name} at ${size}x${size}: ${(error as Error).message}`);
    }
  }

  /** Taps of a batch of NHWC images (as the dataset source yields them, already preprocessed), NHWC. */
  async extract(nhwc: Float32Array, count: number): Promise<tf.Tensor4D[]> {
    const size = this.inputSize;
    const plane = size * size;
    const nchw = new Float32Array(nhwc.length);
    for (let n = 0; n < count; n++) {
      const base = n * 3 * plane;
      for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) nchw[base + c * plane + i] = nhwc[base + i * 3 + c];
    }
    const outputs = await this.runNchw(nchw, count);
    return this.spec.taps.map((name) => {
      const [n, c, h, w] = outputs[name].dims;
      return tf.tidy(() => tf.transpose(tf.tensor4d(outputs[name].data as Float32Array, [n, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D);
    });
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/**
 * The TF.js half of the feature extractor: tap tensors (one input per tap, NHWC) -> DFR features
 * [N, h, w, C], built from the same `aggregateFeatures` layers as the all-TF.js extractor.
 */
export function buildTapAggregator(taps: readonly TapShape[], cell: number, inputSize: number): { model: tf.LayersModel; shape: DfrGraphShape } {
  const inputs = taps.map((t) => tf.input({ shape: t.shape, name: t.name }));
  const { features, shape } = aggregateFeatures(inputs, cell, taps.map((t) => t.name));
  return { model: tf.model({ inputs, outputs: features, name: 'dfr_tap_aggregation' }), shape: { inputSize, channels: 3, ...shape } };
}

/** One batch of preprocessed NHWC images: taps from onnxruntime, then a TF.js model that takes the taps; its output, batch-major. */
export async function predictOnTaps(extractor: OnnxTapExtractor, model: tf.LayersModel, batch: { data: Float32Array; count: number }): Promise<Float32Array> {
  const taps = await extractor.extract(batch.data, batch.count);
  const output = model.predict(taps) as tf.Tensor;
  const data = (await output.data()) as Float32Array;
  tf.dispose([output, ...taps]);
  return data;
}
