/** Image formats recognised from their first bytes (the file extension is never trusted). */
export type SniffedFormat = 'jpeg' | 'png' | 'bmp' | 'tiff' | 'webp' | 'gif' | 'heif' | 'svg';

export const FORMAT_NAMES: Readonly<Record<SniffedFormat, string>> = {
  jpeg: 'JPEG',
  png: 'PNG',
  bmp: 'BMP',
  tiff: 'TIFF',
  webp: 'WebP',
  gif: 'GIF',
  heif: 'HEIF/AVIF',
  svg: 'SVG',
};

/** Formats this package decodes; the others are recognised only to say "unsupported". */
export const SUPPORTED_FORMATS: ReadonlySet<SniffedFormat> = new Set(['jpeg', 'png', 'bmp', 'tiff', 'webp']);

/** File extensions that dataset readers treat as images (lower case, with the dot). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp']);

function startsWith(bytes: Uint8Array, prefix: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + prefix.length) return false;
  return prefix.every((b, i) => bytes[offset + i] === b);
}

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

export function sniffFormat(bytes: Uint8Array): SniffedFormat | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, ascii('BM'))) return 'bmp';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'webp';
  if (startsWith(bytes, ascii('GIF8'))) return 'gif';
  if (startsWith(bytes, ascii('ftyp'), 4)) return 'heif';
  const head = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, 256)).trimStart().toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'svg';
  return undefined;
}

function pngIsTruncated(bytes: Uint8Array): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 8;
  while (offset + 8 <= bytes.length) {
    const length = view.getUint32(offset, false);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    offset += 12 + length;
    if (offset > bytes.length) return true;
    if (type === 'IEND') return false;
  }
  return true;
}

interface JpegSegment {
  marker: number;
  /** Offset of the segment's 0xFF. */
  start: number;
  /** Offset just past it, from its length field (may lie beyond the file when it is cut). */
  end: number;
}

/**
 * JPEG marker segments from the start of the file, fill bytes skipped. Returns 'malformed' when a
 * segment does not start with 0xFF, 'eof' when the bytes run out.
 */
function* jpegSegments(bytes: Uint8Array): Generator<JpegSegment, 'malformed' | 'eof', undefined> {
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return 'malformed';
    const marker = bytes[offset + 1];
    if (marker === 0xff) {
      offset += 1;
      continue;
    }
    const end = offset + 2 + ((bytes[offset + 2] << 8) | bytes[offset + 3]);
    yield { marker, start: offset, end };
    offset = end;
  }
  return 'eof';
}

function jpegIsTruncated(bytes: Uint8Array): boolean {
  // Walk the marker segments to the first scan, then look for the end-of-image marker after it
  // (an EXIF thumbnail has its own EOI earlier in the file).
  const segments = jpegSegments(bytes);
  for (let step = segments.next(); ; step = segments.next()) {
    if (step.done) return step.value !== 'malformed'; // malformed rather than truncated
    const { marker, end } = step.value;
    if (end > bytes.length) return true;
    if (marker === 0xda) {
      for (let i = bytes.length - 2; i >= end; i--) {
        if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return false;
      }
      return true;
    }
  }
}

/**
 * Grey (true) or colour (false) from the file header, where it is unambiguous: a baseline or
 * progressive JPEG frame with 1 (grey) or 3 (YCbCr/RGB) components, a PNG of colour type grey,
 * grey + alpha, RGB or RGBA. Undefined otherwise (palette PNG, CMYK JPEG, TIFF, WebP, a damaged
 * header): the caller asks sharp's metadata instead.
 */
export function greyFromHeader(bytes: Uint8Array, format: string): boolean | undefined {
  if (format === 'png') {
    // Signature (8), IHDR length (4) and type (4), width (4), height (4), bit depth (1), colour type (1).
    if (bytes.length < 26 || bytes[12] !== 0x49 || bytes[13] !== 0x48 || bytes[14] !== 0x44 || bytes[15] !== 0x52) return undefined;
    const colourType = bytes[25];
    if (colourType === 0 || colourType === 4) return true;
    if (colourType === 2 || colourType === 6) return false;
    return undefined;
  }
  if (format !== 'jpeg') return undefined;
  let seen = 0;
  for (const { marker, start } of jpegSegments(bytes)) {
    if (++seen > 64) return undefined;
    if (marker === 0xda || marker === 0xd9) return undefined; // scan or end before any frame header
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (start + 10 > bytes.length) return undefined;
      const components = bytes[start + 9];
      return components === 1 ? true : components === 3 ? false : undefined;
    }
    // An Adobe APP14 segment can mark 3 components as RGB or 4 as CMYK/YCCK: leave those to sharp.
    if (marker === 0xee) return undefined;
  }
  return undefined;
}

/**
 * Whether the file ends before its own structure says it should (PNG chunks, JPEG segments and
 * end-of-image marker, WebP RIFF size). Decoder messages alone are not reliable for this: under
 * concurrency libvips may report only "warning treated as error".
 */
export function looksTruncated(bytes: Uint8Array, format: SniffedFormat): boolean {
  if (format === 'png') return pngIsTruncated(bytes);
  if (format === 'jpeg') return jpegIsTruncated(bytes);
  if (format === 'webp') {
    if (bytes.length < 12) return true;
    const riffSize = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
    return bytes.length < riffSize + 8;
  }
  return false;
}
