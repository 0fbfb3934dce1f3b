export { createNodeInspector } from './node-inspector.js';
export type { NodeImageSource, NodeInspector, NodeInspectorOptions, TensorImage } from './node-inspector.js';
export { ExecutionProviderError } from './session.js';
export type { NodeExecutionProvider, NodeProviderRequest } from './session.js';
export { summarize } from '@residuum/inspection';
export type { InspectionResult, InspectionSuccess, InspectionFailure, InspectionSummary, InspectOptions } from '@residuum/inspection';
