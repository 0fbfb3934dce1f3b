/** The TypeScript source of src/proto/onnx-descriptor.ts, rendered from proto/onnx.proto. */
export function renderOnnxDescriptorModule(): string;
