/**
 * Numbers the trainer (@residuum/train), the converter's graph (@residuum/onnx-converter) and the
 * runtimes' JavaScript (@residuum/scoring itself) must agree on, defined once here: a model trained
 * with one value and scored with another would give wrong scores without any error.
 */

/**
 * SSIM's Gaussian window (Wang et al. 2004; Bergmann et al.'s AE-SSIM): window size 11, sigma 1.5,
 * dynamic range 1 (the normalized input space). Used when the card's score.map leaves them out.
 */
export const SSIM_DEFAULTS: Readonly<{ windowSize: number; sigma: number; dynamicRange: number }> = Object.freeze({
  windowSize: 11,
  sigma: 1.5,
  dynamicRange: 1,
});

/** SSIM's stabilizers for dynamic range L: c1 = (0.01 L)^2, c2 = (0.03 L)^2. */
export function ssimStabilizers(dynamicRange: number): { c1: number; c2: number } {
  return { c1: (0.01 * dynamicRange) ** 2, c2: (0.03 * dynamicRange) ** 2 };
}

/**
 * NeighborConv2D's neighbour offsets (dy, dx) in the order of its kernel's first axis: row-major
 * over the 3x3 window, centre skipped. The trainer's layer and the converter's 3x3 Conv both read
 * the [8, C_in, units] kernel in this order.
 */
export const NEIGHBOR_OFFSETS: ReadonlyArray<readonly [number, number]> = Object.freeze([
  [-1, -1], [-1, 0], [-1, 1],
  [0, -1], [0, 1],
  [1, -1], [1, 0], [1, 1],
] as const);
