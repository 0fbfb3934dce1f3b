export const CONVERTER_NAME = '@residuum/onnx-converter';
export const CONVERTER_VERSION = '0.1.0';
