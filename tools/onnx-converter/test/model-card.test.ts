import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { modelCardFromMetadata, type ModelCard } from '@residuum/scoring';
import { withModelCard } from '../src/index.js';
import { decodeModelObject, encodeModel } from '../src/onnx-model.js';

const DEFAULT_MODEL = new URL('../../../models/cae-casting.onnx', import.meta.url);

function metadataOf(bytes: Uint8Array): Record<string, string> {
  const props = (decodeModelObject(bytes).metadataProps ?? []) as Array<{ key: string; value: string }>;
  return Object.fromEntries(props.map((p) => [p.key, p.value]));
}

function topLevelFields(bytes: Uint8Array): Array<{ field: number; raw: Uint8Array }> {
  const reader = protobuf.Reader.create(bytes);
  const fields: Array<{ field: number; raw: Uint8Array }> = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    reader.skipType(tag & 7);
    fields.push({ field: tag >>> 3, raw: bytes.subarray(start, reader.pos) });
  }
  return fields;
}

describe('withModelCard', () => {
  it('rewrites the embedded card and copies the graph byte for byte; the input is not touched', () => {
    const original = new Uint8Array(readFileSync(DEFAULT_MODEL));
    const before = original.slice();
    const card: ModelCard = modelCardFromMetadata(metadataOf(original));
    const next: ModelCard = { ...card, threshold: { ...card.threshold, value: card.threshold.value / 2, method: 'manual', params: {} } };
    const out = withModelCard(original, next);
    expect(Buffer.from(original).equals(Buffer.from(before))).toBe(true);
    expect(modelCardFromMetadata(metadataOf(out))).toEqual(next);
    // Every field but metadata_props (14) is the same bytes, in the same order.
    const a = topLevelFields(original).filter((f) => f.field !== 14);
    const b = topLevelFields(out).filter((f) => f.field !== 14);
    expect(b.map((f) => f.field)).toEqual(a.map((f) => f.field));
    a.forEach((f, i) => expect(Buffer.from(b[i].raw).equals(Buffer.from(f.raw))).toBe(true));
    // Only the metadata changed in size.
    expect(Math.abs(out.length - original.length)).toBeLessThan(200);
  });

  it('keeps foreign metadata, refuses an invalid card and a file without a graph', () => {
    const model = encodeModel({
      graph: { name: 'g', nodes: [], initializers: [], inputs: [], outputs: [] },
      producerName: 'test',
      producerVersion: '0',
      metadata: { author: 'someone', 'residuum.card': '{}' },
    });
    const card = modelCardFromMetadata(metadataOf(new Uint8Array(readFileSync(DEFAULT_MODEL))));
    const out = withModelCard(model, card);
    const meta = metadataOf(out);
    expect(meta.author).toBe('someone');
    expect(modelCardFromMetadata(meta)).toEqual(card);
    expect(() => withModelCard(model, { ...card, threshold: { ...card.threshold, value: -1 } })).toThrow(/outside the range/);
    expect(() => withModelCard(new Uint8Array([0x08, 0x08]), card)).toThrow(/no graph/);
  });
});
