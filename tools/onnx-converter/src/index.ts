export { convertLayersModel } from './convert.js';
export type { ConvertOptions, ConversionReport, ConversionResult, McMaskInput } from './convert.js';
export { convertRunDir } from './run-dir.js';
export type { ConvertRunDirOptions, ConvertRunDirResult } from './run-dir.js';
export { ConversionError } from './errors.js';
export type { CutSummary } from './topology.js';
export { ONNX_IR_VERSION, ONNX_OPSET_VERSION } from './onnx-model.js';
export { CONVERTER_VERSION } from './version.js';
