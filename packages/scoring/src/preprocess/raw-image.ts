/** A decoded 8-bit image, interleaved channels, at its native size. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 1 = grey, 2 = grey + alpha, 3 = RGB, 4 = RGBA. */
  channels: 1 | 2 | 3 | 4;
}

export function assertPositiveInteger(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
}

export function assertRawImage(raw: RawImage, name = 'image'): void {
  if (raw === null || typeof raw !== 'object') throw new TypeError(`${name} must be a RawImage object`);
  assertPositiveInteger(raw.width, `${name}.width`);
  assertPositiveInteger(raw.height, `${name}.height`);
  const channels: unknown = raw.channels;
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new RangeError(`${name}.channels must be 1, 2, 3 or 4, got ${String(channels)}`);
  }
  if (!(raw.data instanceof Uint8Array) && !(raw.data instanceof Uint8ClampedArray)) {
    throw new TypeError(`${name}.data must be a Uint8Array or Uint8ClampedArray`);
  }
  const expected = raw.width * raw.height * raw.channels;
  if (raw.data.length !== expected) {
    throw new RangeError(
      `${name}.data has ${raw.data.length} bytes but ${raw.width}x${raw.height}x${raw.channels} needs ${expected}`,
    );
  }
}
