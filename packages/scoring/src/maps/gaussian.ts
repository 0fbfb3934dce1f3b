/**
 * Separable Gaussian filtering with scipy.ndimage's conventions (mode 'reflect', i.e. the edge
 * pixel is repeated: d c b a | a b c d | d c b a), so results can be checked against scipy.
 */

/** Normalised 1-D Gaussian of the given radius (length 2 * radius + 1). */
export function gaussianKernel(sigma: number, radius: number): Float64Array {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new RangeError(`Gaussian sigma must be a positive number, got ${sigma}`);
  if (!Number.isInteger(radius) || radius < 0) throw new RangeError(`Gaussian radius must be a non-negative integer, got ${radius}`);
  const kernel = new Float64Array(2 * radius + 1);
  let total = 0;
  for (let i = -radius; i <= radius; i++) {
    const w = Math.exp((-0.5 * i * i) / (sigma * sigma));
    kernel[i + radius] = w;
    total += w;
  }
  for (let i = 0; i < kernel.length; i++) kernel[i] /= total;
  return kernel;
}

/** scipy.ndimage 'reflect' index for any offset, including windows larger than the axis. */
function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n;
  let k = i % period;
  if (k < 0) k += period;
  return k < n ? k : period - 1 - k;
}

/** Source index for each padded position -radius .. n - 1 + radius of an axis of length n ('reflect'). */
export function reflectIndices(n: number, radius: number): Int32Array {
  const index = new Int32Array(n + 2 * radius);
  for (let i = 0; i < index.length; i++) index[i] = reflectIndex(i - radius, n);
  return index;
}

/** Convolves a row-major height x width plane with `kernel` along both axes. */
export function separableFilter(src: ArrayLike<number>, height: number, width: number, kernel: Float64Array): Float64Array {
  const radius = (kernel.length - 1) / 2;
  const xIndex = reflectIndices(width, radius);
  const yIndex = reflectIndices(height, radius);
  const temp = new Float64Array(height * width);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = 0; k < kernel.length; k++) acc += kernel[k] * src[row + xIndex[x + k]];
      temp[row + x] = acc;
    }
  }
  const out = new Float64Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let k = 0; k < kernel.length; k++) {
      const w = kernel[k];
      const srcRow = yIndex[y + k] * width;
      const dstRow = y * width;
      for (let x = 0; x < width; x++) out[dstRow + x] += w * temp[srcRow + x];
    }
  }
  return out;
}

/** The window radius gaussianSmooth uses for sigma: scipy's truncate = 4.0. */
export function smoothingRadius(sigma: number): number {
  return Math.trunc(4 * sigma + 0.5);
}

/**
 * Gaussian smoothing of a single-channel map as scipy.ndimage.gaussian_filter(map, sigma,
 * mode='reflect', truncate=4.0). sigma = 0 returns a copy.
 */
export function gaussianSmooth(map: Float32Array, height: number, width: number, sigma: number): Float32Array {
  if (map.length !== height * width) throw new RangeError(`gaussianSmooth: map has ${map.length} values but ${height}x${width} needs ${height * width}`);
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw new RangeError(`gaussianSmooth: sigma must be >= 0, got ${sigma}`);
  if (sigma === 0) return map.slice();
  const radius = smoothingRadius(sigma);
  return Float32Array.from(separableFilter(map, height, width, gaussianKernel(sigma, radius)));
}
