export { createWebInspector, type WebInspector, type WebInspectorOptions } from './web-inspector.js';
export { ProviderUnavailableError, type WebGpuAdapterSummary, type WebProvider, type WebProviderRequest } from './providers.js';
export type { ModelSource } from './model-source.js';
export { decodeToRawImage, type WebImageSource } from './decode.js';
export {
  mountInspectionPanel,
  type InspectionPanel,
  type InspectionPanelOptions,
  type PanelEntry,
  type PanelSortKey,
} from './panel.js';
export { groundTruthFromPath, type GroundTruth } from './labels.js';
export { modelImageToRgba, heatmapOverlayRgba, mapToRgba, type RgbaPixels } from './render.js';
