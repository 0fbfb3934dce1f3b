import { describe, expect, it } from 'vitest';
import { applyStainNoise, createStain } from '../src/noise/stain.js';
import { createRandom } from '../src/random.js';

describe('stain noise', () => {
  it('is reproducible for a seed and differs between seeds', () => {
    const batch = new Float32Array(2 * 32 * 32).fill(0.5);
    const a = applyStainNoise(batch, [2, 32, 32, 1], 7).data;
    const b = applyStainNoise(batch, [2, 32, 32, 1], 7).data;
    const c = applyStainNoise(batch, [2, 32, 32, 1], 8).data;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(batch.every((v) => v === 0.5)).toBe(true);
  });

  it('keeps the blob within 1-12% of the side (plus the blurred rim) over many draws', () => {
    const random = createRandom(3);
    const side = 200;
    for (let i = 0; i < 50; i++) {
      const stain = createStain(side, side, random);
      expect(stain.diameter).toBeGreaterThanOrEqual(2);
      expect(stain.diameter).toBeLessThanOrEqual(0.12 * side);
      expect(stain.greyLevel).toBeGreaterThanOrEqual(10);
      expect(stain.greyLevel).toBeLessThanOrEqual(220);
      let area = 0;
      let maxDistance = 0;
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const a = stain.alpha[y * side + x];
          if (a > 0) {
            area += a;
            maxDistance = Math.max(maxDistance, Math.hypot(x + 0.5 - stain.centreX, y + 0.5 - stain.centreY));
          }
        }
      }
      // Catmull-Rom may overshoot the control polygon a little; the rim adds ~1.5 px.
      expect(maxDistance).toBeLessThanOrEqual((stain.diameter / 2) * 1.25 + 2);
      expect(area).toBeLessThanOrEqual(Math.PI * ((stain.diameter / 2) * 1.25 + 2) ** 2);
      const inside = stain.centreX >= 0 && stain.centreX < side && stain.centreY >= 0 && stain.centreY < side;
      if (inside && stain.diameter > 6) expect(area).toBeGreaterThan(0);
    }
  });

  it('leaves pixels outside the blob unchanged and fills the inside with the grey level', () => {
    const size = 48;
    const channels = 3;
    const batch = new Float32Array(size * size * channels);
    for (let i = 0; i < batch.length; i++) batch[i] = (i % 97) / 97;
    const { data, stains } = applyStainNoise(batch, [1, size, size, channels], 11, { sizeFraction: [0.3, 0.3], mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
    const stain = stains[0];
    let changedOutside = 0;
    let fullInside = 0;
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < channels; c++) {
        const i = p * channels + c;
        if (stain.alpha[p] === 0 && data[i] !== batch[i]) changedOutside++;
        if (stain.alpha[p] === 1) {
          expect(data[i]).toBeCloseTo((stain.greyLevel / 255 - 0.5) / 0.25, 5);
          fullInside++;
        }
      }
    }
    expect(changedOutside).toBe(0);
    expect(fullInside).toBeGreaterThan(0);
  });

  it('rejects a batch that does not match its shape', () => {
    expect(() => applyStainNoise(new Float32Array(10), [1, 4, 4, 1], 1)).toThrow(/needs 16/);
  });
});
