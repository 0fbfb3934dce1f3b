import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { OnnxFileError, readOnnxMetadata, readOnnxModelInfo } from '../src/index.js';
import { fixturePath, readFixture, testRandom } from './helpers.js';

/** What Debian's python3-onnx says about a fixture: the independent reference. */
function pythonOnnxView(name: string): {
  irVersion: number;
  producerName: string;
  opsets: Array<{ domain: string; version: number }>;
  inputs: Array<{ name: string; dims: Array<number | string> }>;
  outputs: Array<{ name: string; dims: Array<number | string> }>;
  metadata: Record<string, string>;
} {
  const script = `
import json, sys, onnx
m = onnx.load(sys.argv[1])
init = {t.name for t in m.graph.initializer}
def vi(v): return {'name': v.name, 'dims': [d.dim_param if d.HasField('dim_param') else d.dim_value for d in v.type.tensor_type.shape.dim]}
print(json.dumps({'irVersion': m.ir_version, 'producerName': m.producer_name,
  'opsets': [{'domain': o.domain, 'version': o.version} for o in m.opset_import],
  'inputs': [vi(v) for v in m.graph.input if v.name not in init], 'outputs': [vi(v) for v in m.graph.output],
  'metadata': {p.key: p.value for p in m.metadata_props}}))`;
  try {
    return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, fixturePath(name)], { encoding: 'utf8' }));
  } catch (error) {
    throw new Error(`this test needs Debian's /usr/bin/python3 with python3-onnx: ${(error as Error).message}`);
  }
}

function problemOf(bytes: Uint8Array): string {
  try {
    readOnnxModelInfo(bytes);
  } catch (error) {
    if (error instanceof OnnxFileError) return error.problem;
    throw error;
  }
  return 'parsed';
}

describe('readOnnxModelInfo', () => {
  it.each(['tiny-ae.onnx', 'tiny-mc-ae.onnx', 'foreign.onnx'])('agrees with python3-onnx on %s', (name) => {
    const info = readOnnxModelInfo(readFixture(name));
    const reference = pythonOnnxView(name);
    expect(info.irVersion).toBe(reference.irVersion);
    expect(info.producerName).toBe(reference.producerName);
    expect(info.opsets).toEqual(reference.opsets);
    expect(info.inputs.map(({ name, dims }) => ({ name, dims }))).toEqual(reference.inputs);
    expect(info.outputs.map(({ name, dims }) => ({ name, dims }))).toEqual(reference.outputs);
    expect(info.metadata).toEqual(reference.metadata);
    for (const value of [...info.inputs, ...info.outputs]) expect(value.elementType).toBe(1);
  });

  it('returns metadata_props with the card JSON intact', () => {
    const metadata = readOnnxMetadata(readFixture('tiny-ae.onnx'));
    expect(metadata['residuum.schema_version']).toBe('1');
    expect(JSON.parse(metadata['residuum.card']).name).toBe('tiny-ae-fixture');
  });

  it('rejects an empty file', () => {
    expect(() => readOnnxModelInfo(new Uint8Array())).toThrow(/empty \(0 bytes\)/);
    expect(problemOf(new Uint8Array())).toBe('empty');
  });

  it('never parses a truncated copy, and says "truncated" for a cut inside the graph or the metadata', () => {
    const bytes = readFixture('tiny-ae.onnx');
    for (let cut = 1; cut < bytes.length; cut++) {
      const problem = problemOf(bytes.subarray(0, cut));
      // A cut exactly between two top-level fields leaves a well-formed but incomplete model.
      if (problem === 'parsed') expect(readOnnxModelInfo(bytes.subarray(0, cut)).metadata['residuum.card']).toBeUndefined();
      else expect(['truncated', 'missing-graph', 'not-onnx']).toContain(problem);
    }
    expect(problemOf(bytes.subarray(0, Math.floor(bytes.length / 2)))).toBe('truncated');
    expect(problemOf(bytes.subarray(0, bytes.length - 1))).toBe('truncated');
    expect(() => readOnnxModelInfo(bytes.subarray(0, 100))).toThrow(/truncated \(100 bytes\)/);
  });

  it('says "not an ONNX file" for random bytes', () => {
    const random = testRandom(42);
    for (let trial = 0; trial < 50; trial++) {
      const bytes = Uint8Array.from({ length: 200 + trial * 13 }, () => Math.floor(random() * 256));
      if (bytes[0] === 0x08) bytes[0] = 0x07;
      expect(problemOf(bytes)).toBe('not-onnx');
    }
    expect(() => readOnnxModelInfo(Uint8Array.from([0xff, 0xfe, 0x00, 0x01]))).toThrow(/not an ONNX file/);
  });

  it('recognises a PNG, a JPEG and a JSON file given as a model', () => {
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
      'base64',
    );
    expect(() => readOnnxModelInfo(new Uint8Array(png))).toThrow(/not an ONNX file: it looks like a PNG image/);
    expect(() => readOnnxModelInfo(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]))).toThrow(/JPEG/);
    const json = new TextEncoder().encode('  {"modelTopology": {}, "weightsManifest": []}');
    expect(() => readOnnxModelInfo(json)).toThrow(/not an ONNX file: it looks like a JSON text file/);
    expect(problemOf(json)).toBe('not-onnx');
  });

  it('reports a model without a graph', () => {
    // ir_version = 8, producer_name = "x", and nothing else.
    const bytes = Uint8Array.from([0x08, 0x08, 0x12, 0x01, 0x78]);
    expect(problemOf(bytes)).toBe('missing-graph');
    expect(() => readOnnxModelInfo(bytes)).toThrow(/no graph/);
  });
});
