/**
 * The tiny stand-in for ResNet-50 that the ONNX-backbone tests (DFR --backbone, PatchCore, fp16
 * storage) train on: @residuum/train's committed fixture (a 32 px TF.js backbone cut and converted to
 * ONNX, taps layer1-layer3 at strides 2/4/8) with ResNet-50's Caffe preprocessing, seeded striped
 * parts with an optional blob defect, and scoring a set of tensors in runtime-node.
 */
import { fileURLToPath } from 'node:url';
import { RESNET50 } from '@residuum/onnx-converter';
import { createNodeInspector } from '@residuum/runtime-node';
import type { RawImage } from '@residuum/scoring';
import type { OnnxBackboneSpec } from '@residuum/train';
import { seededUniform } from './train-families.js';

export const STAND_IN_SIZE = 32;
const STAND_IN_ONNX = fileURLToPath(new URL('../../../../packages/train/test/fixtures/onnx-backbone/backbone.onnx', import.meta.url));

export function standInBackbone(taps: readonly string[]): OnnxBackboneSpec {
  return { onnxPath: STAND_IN_ONNX, taps: [...taps], preprocessing: RESNET50.preprocessing, name: 'tiny-onnx-backbone' };
}

/** A defect: rows [top, bottom) x columns [left, right) set to one grey value. */
export interface BlobDefect {
  top: number;
  bottom: number;
  left: number;
  right: number;
  value: number;
}

/** A seeded striped RGB part of STAND_IN_SIZE px, with the blob painted in when one is given. */
export function stripes(seed: number, defect?: BlobDefect): RawImage {
  const size = STAND_IN_SIZE;
  const uniform = seededUniform(seed);
  const phase = uniform(0, 6);
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const blob = defect !== undefined && y >= defect.top && y < defect.bottom && x >= defect.left && x < defect.right;
      const v = blob ? defect.value : 128 + 70 * Math.sin((x + y) / 3 + phase) + uniform(-15, 15);
      for (let c = 0; c < 3; c++) data[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v - 10 * c)));
    }
  }
  return { data, width: size, height: size, channels: 3 };
}

export function chwToNhwc(chw: Float32Array, channels: number, plane: number): Float32Array {
  const out = new Float32Array(chw.length);
  for (let i = 0; i < plane; i++) for (let c = 0; c < channels; c++) out[i * channels + c] = chw[c * plane + i];
  return out;
}

export interface PreprocessedPart {
  source: string;
  input: { data: Float32Array; channels: number; height: number; width: number };
}

/** Scores preprocessed parts with a model file in runtime-node (CPU); throws on any failed part. */
export async function scoreInRuntimeNode(model: Uint8Array, parts: PreprocessedPart[]): Promise<Array<{ score: number; anomalous: boolean }>> {
  const runner = await createNodeInspector(model, { provider: 'cpu', batchSize: 4 });
  const out = await runner.inspectTensors(parts);
  await runner.dispose();
  return out.map((r) => {
    if (!r.ok) throw new Error(JSON.stringify(r));
    return { score: r.score, anomalous: r.isAnomalous };
  });
}
