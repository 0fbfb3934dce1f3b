/**
 * The few protobuf wire-format primitives needed to walk an ONNX ModelProto without a
 * protobuf library (varint, 64/32-bit fixed and length-delimited fields).
 * https://protobuf.dev/programming-guides/encoding/
 */

export const WireType = { varint: 0, fixed64: 1, lengthDelimited: 2, fixed32: 5 } as const;

/** Thrown by the reader; the ONNX layer turns it into an OnnxFileError with context. */
export class WireFormatError extends Error {
  constructor(
    message: string,
    /** true when a length or varint ran past the end of the buffer (a cut file). */
    readonly pastEnd: boolean,
  ) {
    super(message);
    this.name = 'WireFormatError';
  }
}

export interface FieldHeader {
  fieldNumber: number;
  wireType: number;
}

export class ProtobufReader {
  position: number;
  readonly end: number;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    end = bytes.length,
  ) {
    this.position = start;
    this.end = end;
  }

  get done(): boolean {
    return this.position >= this.end;
  }

  /** Unsigned varint as a JS number (exact up to 2^53; ONNX dims and versions fit). */
  readVarint(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.position >= this.end) {
        throw new WireFormatError(`varint runs past the end at byte ${this.position}`, true);
      }
      const byte = this.bytes[this.position++];
      result += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return result;
      multiplier *= 128;
    }
    throw new WireFormatError(`varint longer than 10 bytes at byte ${this.position}`, false);
  }

  readHeader(): FieldHeader {
    const at = this.position;
    const key = this.readVarint();
    const fieldNumber = Math.floor(key / 8);
    const wireType = key % 8;
    if (fieldNumber === 0) throw new WireFormatError(`field number 0 at byte ${at}`, false);
    if (wireType !== 0 && wireType !== 1 && wireType !== 2 && wireType !== 5) {
      throw new WireFormatError(`unsupported wire type ${wireType} (field ${fieldNumber}) at byte ${at}`, false);
    }
    return { fieldNumber, wireType };
  }

  /** Returns [start, end) of a length-delimited payload and moves past it. */
  readLengthDelimited(): [number, number] {
    const length = this.readVarint();
    const start = this.position;
    if (start + length > this.end) {
      throw new WireFormatError(
        `a field of ${length} bytes at byte ${start} runs past the end (${this.end - start} bytes left)`,
        true,
      );
    }
    this.position = start + length;
    return [start, start + length];
  }

  readString(): string {
    const [start, end] = this.readLengthDelimited();
    return utf8.decode(this.bytes.subarray(start, end));
  }

  /** A sub-reader over an embedded message. */
  readMessage(): ProtobufReader {
    const [start, end] = this.readLengthDelimited();
    return new ProtobufReader(this.bytes, start, end);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WireType.varint:
        this.readVarint();
        return;
      case WireType.fixed64:
        this.advance(8);
        return;
      case WireType.fixed32:
        this.advance(4);
        return;
      case WireType.lengthDelimited:
        this.readLengthDelimited();
        return;
      default:
        throw new WireFormatError(`unsupported wire type ${wireType}`, false);
    }
  }

  private advance(count: number): void {
    if (this.position + count > this.end) {
      throw new WireFormatError(`a fixed-size field runs past the end at byte ${this.position}`, true);
    }
    this.position += count;
  }
}

const utf8 = new TextDecoder('utf-8');
