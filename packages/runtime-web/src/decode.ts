/**
 * Browser image sources -> RawImage (interleaved RGBA, 8-bit, native size). Decoding only:
 * resizing and colour conversion happen in @residuum/scoring's preprocessImage, the same code
 * the Node runtime runs, so a browser score equals the Node score for the same file.
 */
import type { RawImage } from '@residuum/scoring';

export type WebImageSource = File | Blob | ImageBitmap | ImageData | HTMLCanvasElement | OffscreenCanvas;

type Context2D = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;

export async function decodeToRawImage(source: WebImageSource, label: string): Promise<RawImage> {
  if (typeof ImageData !== 'undefined' && source instanceof ImageData) {
    return { data: source.data, width: source.width, height: source.height, channels: 4 };
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    let bitmap: ImageBitmap;
    try {
      // No colour management and no premultiplication: the pixels as stored in the file,
      // like sharp's raw output on the Node side.
      bitmap = await createImageBitmap(source, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    } catch (error) {
      const type = source.type ? ` (${source.type}, ${source.size} bytes)` : ` (${source.size} bytes)`;
      throw new Error(`could not decode image ${label}${type}: ${error instanceof Error ? error.message : String(error)}`);
    }
    try {
      return drawToRawImage(bitmap, bitmap.width, bitmap.height, label);
    } finally {
      bitmap.close();
    }
  }
  if (typeof ImageBitmap !== 'undefined' && source instanceof ImageBitmap) {
    return drawToRawImage(source, source.width, source.height, label);
  }
  if (
    (typeof HTMLCanvasElement !== 'undefined' && source instanceof HTMLCanvasElement) ||
    (typeof OffscreenCanvas !== 'undefined' && source instanceof OffscreenCanvas)
  ) {
    return drawToRawImage(source, source.width, source.height, label);
  }
  throw new TypeError(
    `image ${label}: expected a File, Blob, ImageBitmap, ImageData, HTMLCanvasElement or OffscreenCanvas`,
  );
}

function drawToRawImage(image: CanvasImageSource, width: number, height: number, label: string): RawImage {
  if (width === 0 || height === 0) throw new Error(`image ${label} is empty (${width}x${height})`);
  const context = create2dContext(width, height);
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, width, height);
  return { data: pixels.data, width, height, channels: 4 };
}

function create2dContext(width: number, height: number): Context2D {
  const options: CanvasRenderingContext2DSettings = { willReadFrequently: true, alpha: true };
  if (typeof OffscreenCanvas !== 'undefined') {
    const context: OffscreenCanvasRenderingContext2D | null = new OffscreenCanvas(width, height).getContext('2d', options);
    if (context) return context;
  }
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context: CanvasRenderingContext2D | null = canvas.getContext('2d', options);
  if (!context) throw new Error('this browser gives no 2D canvas context: cannot read image pixels');
  return context;
}
