export { createWebInspector, type WebInspector, type WebInspectorOptions } from './web-inspector.js';
export { ProviderUnavailableError, type WebGpuAdapterSummary, type WebProvider, type WebProviderRequest } from './providers.js';
export type { ModelSource } from './model-source.js';
export { decodeToRawImage, type WebImageSource } from './decode.js';
