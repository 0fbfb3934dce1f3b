import { describe, expect, it } from 'vitest';
import type { InspectionSuccess } from '@residuum/inspection';
import { heatScaleMax, type ModelCard } from '@residuum/scoring';
import { panelCaption, renderTriptych, upscaleNearest } from '../src/commands/heatmaps.js';

const card = {
  preprocessing: { width: 2, height: 2, channels: 1, resize: 'fill', interpolation: 'bilinear', mean: [0.5], std: [0.25] },
  calibration: { count: 1, min: 0, max: 1, mean: 0, std: 0, quantiles: {} },
} as unknown as ModelCard;

function result(uncertainty: boolean): InspectionSuccess {
  return {
    ok: true,
    source: 'x.png',
    score: 0.1,
    normalizedScore: 0.5,
    isAnomalous: false,
    threshold: 0.1,
    provider: 'cpu',
    timings: { preprocessMs: 0, inferenceMs: 0, scoringMs: 0, totalMs: 0 },
    // Model space: (pixel / 255 - 0.5) / 0.25, so -2 -> 0 and 2 -> 255.
    input: { data: Float32Array.from([-2, 2, 0, -2]), channels: 1, height: 2, width: 2 },
    reconstruction: { data: Float32Array.from([2, 2, 2, 2]), channels: 1, height: 2, width: 2 },
    map: { data: Float32Array.from([0, 0.2, 0.1, 0]), width: 2, height: 2 },
    ...(uncertainty ? { uncertainty: { data: Float32Array.from([0, 1, 0, 0]), width: 2, height: 2 } } : {}),
  };
}

describe('heatmap triptychs', () => {
  it('scales by whole factors, copying pixels', () => {
    const image = upscaleNearest({ data: Uint8Array.from([1, 2, 3, 4]), width: 2, height: 2, channels: 1 }, 2);
    expect(image.width).toBe(4);
    expect(Array.from(image.data)).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });

  it('uses twice the pixel threshold, else twice the image threshold, as the top of the colour scale', () => {
    expect(heatScaleMax(card, 0.1)).toBe(0.2);
    expect(heatScaleMax({ ...card, calibration: { ...card.calibration, pixelThreshold: 0.3 } }, 0.1)).toBe(0.6);
    expect(heatScaleMax(card, 0)).toBe(1);
  });

  it('puts input, reconstruction and overlay (and uncertainty) side by side at >= 128 px', () => {
    const three = renderTriptych(result(false), card, 0.1);
    expect(three.height).toBe(128);
    expect(three.width).toBe(3 * 128 + 2 * 4);
    // Top-left pixel of the input panel: model value -2 -> black; of the reconstruction: 2 -> white.
    expect(Array.from(three.data.subarray(0, 3))).toEqual([0, 0, 0]);
    const reconstructionLeft = (128 + 4) * three.channels;
    expect(Array.from(three.data.subarray(reconstructionLeft, reconstructionLeft + 3))).toEqual([255, 255, 255]);
    const four = renderTriptych(result(true), card, 0.1);
    expect(four.width).toBe(4 * 128 + 3 * 4);
  });

  it('leaves out the reconstruction panel for models without one (DFR) and says so in the caption', () => {
    const { reconstruction: _r, ...dfrLike } = result(false);
    const two = renderTriptych(dfrLike as InspectionSuccess, card, 0.1);
    expect(two.width).toBe(2 * 128 + 4);
    expect(panelCaption(dfrLike)).toBe('input | heatmap');
    expect(panelCaption(result(true))).toBe('input | reconstruction | heatmap | uncertainty');
  });

    it('needs the maps', () => {
    const { map: _map, ...withoutMap } = result(false);
    expect(() => renderTriptych(withoutMap as InspectionSuccess, card, 0.1)).toThrow(/no maps/);
  });
});
