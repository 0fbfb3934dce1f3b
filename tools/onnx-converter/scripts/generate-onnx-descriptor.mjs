#!/usr/bin/env node
// Regenerates src/proto/onnx-descriptor.ts from proto/onnx.proto (the protobufjs JSON
// descriptor of the ONNX schema). Run after updating proto/onnx.proto; a test checks that
// the committed descriptor still matches the .proto.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderOnnxDescriptorModule } from './onnx-descriptor-source.mjs';

const target = fileURLToPath(new URL('../src/proto/onnx-descriptor.ts', import.meta.url));
writeFileSync(target, renderOnnxDescriptorModule());
console.log(`wrote ${target}`);
