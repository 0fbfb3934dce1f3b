import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderOnnxDescriptorModule } from '../scripts/onnx-descriptor-source.mjs';
import { decodeModelObject, encodeModel, ONNX_IR_VERSION, ONNX_OPSET_VERSION, TensorDataType } from '../src/onnx-model.js';
import { expectValidOnnx } from './helpers/onnx-checker.js';

describe('ONNX schema', () => {
  it('the committed descriptor is what proto/onnx.proto compiles to (run npm run generate:proto after updating it)', () => {
    const committed = readFileSync(fileURLToPath(new URL('../src/proto/onnx-descriptor.ts', import.meta.url)), 'utf8');
    expect(committed).toBe(renderOnnxDescriptorModule());
  });

  it('proto/onnx.proto is onnx 1.12 (IR version 8) with its licence header', () => {
    const proto = readFileSync(fileURLToPath(new URL('../proto/onnx.proto', import.meta.url)), 'utf8');
    expect(proto).toContain('SPDX-License-Identifier: Apache-2.0');
    expect(proto).toMatch(/IR_VERSION = 0x0000000000000008;/);
  });

  it('encodes a hand-built model that round-trips and passes the checker', () => {
    const bytes = encodeModel({
      producerName: 'test',
      producerVersion: '0',
      metadata: { 'residuum.family': 'cae' },
      graph: {
        name: 'g',
        nodes: [{ name: 'relu', opType: 'Relu', input: ['input'], output: ['reconstruction'], attribute: [] }],
        initializers: [],
        inputs: [{ name: 'input', elemType: TensorDataType.FLOAT, shape: ['N', 1, 2, 2] }],
        outputs: [{ name: 'reconstruction', elemType: TensorDataType.FLOAT, shape: ['N', 1, 2, 2] }],
      },
    });
    expectValidOnnx(bytes);
    const decoded = decodeModelObject(bytes) as { irVersion: number; opsetImport: Array<{ version: number }>; metadataProps: Array<{ key: string; value: string }> };
    expect(decoded.irVersion).toBe(ONNX_IR_VERSION);
    expect(decoded.opsetImport[0].version).toBe(ONNX_OPSET_VERSION);
    expect(decoded.metadataProps).toEqual([{ key: 'residuum.family', value: 'cae' }]);
  });
});
