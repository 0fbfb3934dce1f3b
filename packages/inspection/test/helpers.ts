import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ModelCard } from '@residuum/scoring';
import { createSeededRandom as testRandom } from '@residuum/scoring';

/** mulberry32, the generator of the MC-Dropout masks. */
export { testRandom };

export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

export function readFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(name)));
}

/** The tiny AE fixture's card, parsed independently of the code under test. */
export function tinyAeCard(): ModelCard {
  const text = Buffer.from(readFixture('tiny-ae.onnx')).toString('latin1');
  const start = text.indexOf('{"schemaVersion"');
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '{') depth++;
    if (text[i] === '}' && --depth === 0) return JSON.parse(text.slice(start, i + 1)) as ModelCard;
  }
  throw new Error('no card JSON in tiny-ae.onnx');
}

/** Appends a metadata_props entry (ModelProto field 14) to serialized ONNX bytes. */
export function appendMetadataEntry(bytes: Uint8Array, key: string, value: string): Uint8Array {
  const encode = (fieldNumber: number, payload: Uint8Array) => Uint8Array.from([...varint((fieldNumber << 3) | 2), ...varint(payload.length), ...payload]);
  const entry = Uint8Array.from([...encode(1, new TextEncoder().encode(key)), ...encode(2, new TextEncoder().encode(value))]);
  return Uint8Array.from([...bytes, ...encode(14, entry)]);
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

