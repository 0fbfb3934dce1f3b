// The contract both runtimes implement.
export * from './inspector.js';

// ONNX file -> model card, checked against the graph.
export { readOnnxMetadata, readOnnxModelInfo, OnnxFileError } from './onnx/onnx-model-info.js';
export type { OnnxFileProblem, OnnxModelInfo, OnnxValueInfo } from './onnx/onnx-model-info.js';
export { loadModelCard, describeOnnxModel, checkCardAgainstGraph } from './onnx/load-model-card.js';
export type { LoadedModelDescription } from './onnx/load-model-card.js';

// The runtime-independent inspector core (scoring itself is @residuum/scoring's scoreImage).
export { createInspectorCore } from './inspector-impl.js';
export type {
  InferredBatch,
  InspectorCore,
  InspectorCoreOptions,
  ModelFeeds,
  ModelOutputs,
  PreparedImage,
  RunModel,
  UnreadableImage,
} from './inspector-impl.js';
export { summarize } from './summary.js';
export type { InspectionSummary } from './summary.js';

// The one Inspector implementation: runtimes supply a session and image decoding.
export { createRuntimeInspector, describeNamedOnnxModel } from './runtime-inspector.js';
export type { ImageDecoder, InspectorSession, RuntimeInspector, RuntimeInspectorOptions, TensorImage } from './runtime-inspector.js';
