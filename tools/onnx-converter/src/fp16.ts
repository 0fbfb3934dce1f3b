/** IEEE 754 binary16 bits of a float32 value, rounded to nearest even (as numpy's astype(float16)). */
export function float32ToFloat16Bits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // Inf / NaN
  let halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign; // underflow -> signed zero
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const rounded = roundShift(mantissa, shift);
    return sign | rounded;
  }
  const rounded = roundShift(mantissa, 13);
  // A mantissa that rounds up to 0x400 carries into the exponent, which the addition does.
  return sign | ((halfExponent << 10) + rounded);
}

function roundShift(value: number, shift: number): number {
  const truncated = value >>> shift;
  const remainder = value - truncated * 2 ** shift;
  const half = 2 ** (shift - 1);
  if (remainder > half || (remainder === half && (truncated & 1) === 1)) return truncated + 1;
  return truncated;
}

export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export function toFloat16Bytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i += 1) view.setUint16(i * 2, float32ToFloat16Bits(values[i]), true);
  return out;
}
