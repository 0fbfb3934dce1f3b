/**
 * The largest image decoded, in pixels (width x height): a guard against decompression bombs
 * (a 20,000 x 20,000 PNG of a few KB needs 400 MB as pixels). One constant for every Node
 * consumer (the CLI, the line service); sharp's own default, 0x3FFF squared (~268 Mpx).
 */
export const MAX_IMAGE_PIXELS = 0x3fff * 0x3fff;

/** The environment variable that raises (or lowers) the limit for a process. */
export const MAX_IMAGE_PIXELS_ENV = 'RESIDUUM_MAX_IMAGE_PIXELS';

/** The limit in force: RESIDUUM_MAX_IMAGE_PIXELS when set, else MAX_IMAGE_PIXELS. */
export function maxImagePixels(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const raw = env[MAX_IMAGE_PIXELS_ENV];
  if (raw === undefined || raw.trim() === '') return MAX_IMAGE_PIXELS;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${MAX_IMAGE_PIXELS_ENV} must be a whole number of pixels >= 1, got '${raw}'`);
  }
  return value;
}

/** The reason given for an image over the limit: its size, the limit and how to raise it. */
export function overPixelLimitReason(width: number, height: number, limit: number): string {
  const megapixels = (n: number) => `${(n / 1e6).toFixed(1)} Mpx`;
  return (
    `image is ${width}x${height} (${megapixels(width * height)}), over the pixel limit of ${megapixels(limit)}; ` +
    `to decode it, raise the limit with ${MAX_IMAGE_PIXELS_ENV}=${width * height}`
  );
}
