import { describe, expect, it } from 'vitest';
import { centerCropBox, preprocessImage, resamplePlane, type PreprocessingSpec, type RawImage } from '../src/index.js';
import { seededRandom } from './helpers.js';

/** Convert, resample and normalize one after the other, through float32 planes (the unfused definition). */
function unfused(raw: RawImage, spec: PreprocessingSpec): Float32Array {
  const n = raw.width * raw.height;
  const c = raw.channels;
  const planes: Float32Array[] = [];
  for (let k = 0; k < spec.channels; k++) {
    const plane = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (spec.channels === 1 && c >= 3) plane[i] = 0.299 * raw.data[i * c] + 0.587 * raw.data[i * c + 1] + 0.114 * raw.data[i * c + 2];
      else plane[i] = raw.data[i * c + (c >= 3 ? k : 0)];
    }
    planes.push(plane);
  }
  const box = spec.resize === 'center-crop' ? centerCropBox(raw.width, raw.height, spec.width, spec.height) : undefined;
  const size = spec.width * spec.height;
  const out = new Float32Array(spec.channels * size);
  planes.forEach((plane, k) => {
    const resized = resamplePlane(plane, raw.width, raw.height, spec.width, spec.height, spec.interpolation, box);
    for (let i = 0; i < size; i++) out[k * size + i] = (resized[i] / 255 - spec.mean[k]) / spec.std[k];
  });
  return out;
}

describe('preprocessImage (fused convert + resample + normalize)', () => {
  it('is bit-identical to converting, resampling and normalizing through float32 planes', () => {
    const random = seededRandom(3);
    const sources: Array<[number, number, RawImage['channels']]> = [
      [150, 120, 3],
      [120, 150, 1],
      [97, 61, 4],
      [40, 90, 2],
      [7, 5, 3],
    ];
    for (const [width, height, channels] of sources) {
      const raw: RawImage = { data: Uint8Array.from({ length: width * height * channels }, () => Math.floor(random() * 256)), width, height, channels };
      for (const channelsOut of [1, 3] as const) {
        for (const resize of ['fill', 'center-crop'] as const) {
          for (const interpolation of ['bilinear', 'nearest'] as const) {
            for (const [outWidth, outHeight] of [[64, 64], [32, 48], [16, 9]]) {
              const spec: PreprocessingSpec = {
                width: outWidth,
                height: outHeight,
                channels: channelsOut,
                resize,
                interpolation,
                mean: channelsOut === 1 ? [0.25] : [0.485, 0.456, 0.406],
                std: channelsOut === 1 ? [0.5] : [0.229, 0.224, 0.225],
              };
              expect(preprocessImage(raw, spec)).toEqual(unfused(raw, spec));
            }
          }
        }
      }
    }
  });
});
