/**
 * input | reconstruction | heatmap overlay (| uncertainty, for MC-Dropout models), side by
 * side, for `inspect --maps` and the report gallery, drawn at the model's resolution (what the model saw) and scaled up by an integer
 * factor (nearest) so small models stay visible. The colour scale is fixed per model:
 * 0 -> dark, 2 x the pixel threshold (or, without one, 2 x the image threshold) -> bright,
 * so that images of one run are comparable.
 */
import type { InspectionSuccess } from '@residuum/inspection';
import { encodePng, modelTensorToImage, renderHeatmap, renderHeatmapOverlay, sideBySide } from '@residuum/imaging';
import { heatScaleMax, type ModelCard, type RawImage } from '@residuum/scoring';

const MIN_PANEL_HEIGHT = 128;

export function upscaleNearest(image: RawImage, factor: number): RawImage {
  if (factor === 1) return image;
  const { width, height, channels, data } = image;
  const outWidth = width * factor;
  const out = new Uint8Array(outWidth * height * factor * channels);
  for (let y = 0; y < height * factor; y += 1) {
    const sourceRow = Math.floor(y / factor) * width;
    for (let x = 0; x < outWidth; x += 1) {
      const from = (sourceRow + Math.floor(x / factor)) * channels;
      const to = (y * outWidth + x) * channels;
      for (let c = 0; c < channels; c += 1) out[to + c] = data[from + c];
    }
  }
  return { data: out, width: outWidth, height: height * factor, channels };
}

/** What the panels of renderTriptych show, left to right, e.g. "input | reconstruction | heatmap". */
export function panelCaption(result: Pick<InspectionSuccess, 'reconstruction' | 'uncertainty'>): string {
  return ['input', ...(result.reconstruction ? ['reconstruction'] : []), 'heatmap', ...(result.uncertainty ? ['uncertainty'] : [])].join(' | ');
}

/** The three panels of one result (it must come from inspect with returnMaps). */
export function renderTriptych(result: InspectionSuccess, card: ModelCard, threshold: number): RawImage {
  if (!result.input || !result.map) throw new Error('no maps in the result (inspect with returnMaps)');
  const spec = card.preprocessing;
  const input = modelTensorToImage(result.input.data, spec);
  const overlay = renderHeatmapOverlay(input, result.map, { range: { min: 0, max: heatScaleMax(card, threshold) }, alpha: 0.6 });
  // Models without a reconstruction (DFR: feature errors; its map is the whole story) get no empty tile.
  const panels = result.reconstruction ? [input, modelTensorToImage(result.reconstruction.data, spec), overlay] : [input, overlay];
  // MC-Dropout models: a fourth panel, the per-pixel variance over the passes (its own 0..max scale).
  if (result.uncertainty) {
    let max = 0;
    for (const v of result.uncertainty.data) if (v > max) max = v;
    panels.push(renderHeatmap(result.uncertainty, { range: { min: 0, max } }));
  }
  const factor = Math.max(1, Math.ceil(MIN_PANEL_HEIGHT / input.height));
  return sideBySide(panels.map((panel) => upscaleNearest(panel, factor)));
}

export async function renderTriptychPng(result: InspectionSuccess, card: ModelCard, threshold: number): Promise<Uint8Array> {
  return encodePng(renderTriptych(result, card, threshold));
}
