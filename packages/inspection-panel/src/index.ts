export {
  mountInspectionPanel,
  type InspectionPanel,
  type InspectionPanelOptions,
  type PanelEntry,
  type PanelSortKey,
} from './panel.js';
export { groundTruthFromPath, type GroundTruth } from './labels.js';
export { modelImageToRgba, heatmapOverlayRgba, mapToRgba, type RgbaPixels } from './render.js';
