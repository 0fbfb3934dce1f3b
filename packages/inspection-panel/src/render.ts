/**
 * Model-space images and maps -> RGBA pixels for display. Pure functions (no DOM), so the
 * dashboard, the panel and tests draw exactly the same thing.
 */
import { colorizeMap, modelValueToPixel, overlayHeatmap, type PreprocessingSpec, sourceRgbChannel } from '@residuum/scoring';
import type { ModelInputImage, ScalarMap } from '@residuum/inspection';

export interface RgbaPixels {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** Undoes the card's normalisation: (value * std + mean) * pixelDivisor, clamped, back in RGB order; grey shown as grey. */
export function modelImageToRgba(image: ModelInputImage, spec: Pick<PreprocessingSpec, 'mean' | 'std' | 'channelOrder' | 'pixelDivisor'>): RgbaPixels {
  const { channels, height, width, data } = image;
  if (data.length !== channels * height * width) {
    throw new RangeError(`modelImageToRgba: ${data.length} values do not make ${channels}x${height}x${width}`);
  }
  if (spec.mean.length !== channels || spec.std.length !== channels) {
    throw new RangeError(`modelImageToRgba: mean/std need ${channels} entries (got ${spec.mean.length}/${spec.std.length})`);
  }
  const plane = height * width;
  const out = new Uint8ClampedArray(plane * 4);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const source = channels === 1 ? 0 : sourceRgbChannel({ channels: 3, channelOrder: spec.channelOrder }, c);
      out[i * 4 + c] = Math.round(modelValueToPixel(spec, source, data[source * plane + i]));
    }
    out[i * 4 + 3] = 255;
  }
  return { data: out, width, height };
}

/** Viridis heatmap of an anomaly map over the model input; `scaleMax` is the map value shown as yellow. */
export function heatmapOverlayRgba(
  input: ModelInputImage,
  map: ScalarMap,
  spec: Pick<PreprocessingSpec, 'mean' | 'std'>,
  scaleMax: number,
  alpha = 0.55,
): RgbaPixels {
  if (map.width !== input.width || map.height !== input.height) {
    throw new RangeError(`heatmapOverlayRgba: map is ${map.width}x${map.height}, input is ${input.width}x${input.height}`);
  }
  const base = modelImageToRgba(input, spec);
  const max = Number.isFinite(scaleMax) && scaleMax > 0 ? scaleMax : 1e-12;
  const heat = colorizeMap(map.data, map.width, map.height, { min: 0, max });
  return { data: overlayHeatmap(base.data, heat, alpha), width: map.width, height: map.height };
}

/** Largest finite value of a map (0 for an empty or all-NaN map). */
export function mapMaximum(map: ScalarMap): number {
  let max = 0;
  for (let i = 0; i < map.data.length; i++) if (map.data[i] > max) max = map.data[i];
  return max;
}

/** Viridis image of a single-channel map (e.g. MC-Dropout uncertainty), 0 -> dark, scaleMax -> yellow. */
export function mapToRgba(map: ScalarMap, scaleMax: number): RgbaPixels {
  const max = Number.isFinite(scaleMax) && scaleMax > 0 ? scaleMax : 1e-12;
  return { data: colorizeMap(map.data, map.width, map.height, { min: 0, max }), width: map.width, height: map.height };
}
