/**
 * input | reconstruction | heatmap overlay, side by side, for `inspect --maps` and the
 * report gallery. The colour scale is fixed per model (0 -> dark, 2 x the pixel threshold or,
 * without one, 2 x the image threshold -> bright) so that images of one run are comparable.
 */
import type { InspectionSuccess, ModelInputImage, ScalarMap } from '@residuum/inspection';
import { colorizeMap, overlayHeatmap, resizeMap, type ModelCard, type PreprocessingSpec } from '@residuum/scoring';
import { encodePng } from '@residuum/imaging';

export interface RgbaImage {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** Model-space CHW floats back to 8-bit RGBA: pixel = (value * std + mean) * 255. */
export function modelImageToRgba(image: ModelInputImage, spec: PreprocessingSpec): RgbaImage {
  const { width, height, channels, data } = image;
  const plane = width * height;
  const out = new Uint8ClampedArray(plane * 4);
  for (let i = 0; i < plane; i += 1) {
    for (let c = 0; c < 3; c += 1) {
      const source = channels === 1 ? 0 : c;
      const value = data[source * plane + i] * (spec.std[source] ?? 1) + (spec.mean[source] ?? 0);
      out[i * 4 + c] = Math.round(value * 255);
    }
    out[i * 4 + 3] = 255;
  }
  return { data: out, width, height };
}

export function heatScaleMax(card: ModelCard, threshold: number): number {
  const reference = card.calibration.pixelThreshold ?? threshold;
  return reference > 0 && Number.isFinite(reference) ? 2 * reference : 1;
}

function mapAtSize(map: ScalarMap, width: number, height: number): Float32Array {
  return map.width === width && map.height === height ? map.data : resizeMap(map.data, width, height, map.width, map.height);
}

/** Panels next to each other with a white gap, scaled up (nearest) so small models stay visible. */
export function composeSideBySide(panels: readonly RgbaImage[], minHeight = 128, gap = 4): RgbaImage {
  const height = panels[0].height;
  const scale = Math.max(1, Math.ceil(minHeight / height));
  const panelWidths = panels.map((p) => p.width * scale);
  const width = panelWidths.reduce((sum, w) => sum + w, 0) + gap * (panels.length - 1);
  const outHeight = height * scale;
  const out = new Uint8ClampedArray(width * outHeight * 4).fill(255);
  let left = 0;
  for (const [k, panel] of panels.entries()) {
    for (let y = 0; y < outHeight; y += 1) {
      const sy = Math.min(panel.height - 1, Math.floor(y / scale));
      for (let x = 0; x < panelWidths[k]; x += 1) {
        const sx = Math.floor(x / scale);
        const from = (sy * panel.width + sx) * 4;
        const to = (y * width + left + x) * 4;
        out[to] = panel.data[from];
        out[to + 1] = panel.data[from + 1];
        out[to + 2] = panel.data[from + 2];
        out[to + 3] = panel.data[from + 3];
      }
    }
    left += panelWidths[k] + gap;
  }
  return { data: out, width, height: outHeight };
}

/** The three panels of one result as RGBA (the result must come from inspect with returnMaps). */
export function renderTriptych(result: InspectionSuccess, card: ModelCard, threshold: number): RgbaImage {
  if (!result.input || !result.map) throw new Error('no maps in the result (inspect with returnMaps)');
  const input = modelImageToRgba(result.input, card.preprocessing);
  const { width, height } = input;
  const heat = colorizeMap(mapAtSize(result.map, width, height), width, height, { min: 0, max: heatScaleMax(card, threshold) });
  const overlay = { data: overlayHeatmap(input.data, heat, 0.6), width, height };
  const reconstruction = result.reconstruction
    ? modelImageToRgba(result.reconstruction, card.preprocessing)
    : { data: new Uint8ClampedArray(width * height * 4).fill(255), width, height };
  return composeSideBySide([input, reconstruction, overlay]);
}

export async function renderTriptychPng(result: InspectionSuccess, card: ModelCard, threshold: number): Promise<Uint8Array> {
  const image = renderTriptych(result, card, threshold);
  return encodePng(image.data, image.width, image.height, 4);
}
