// PatchCore family building blocks (memory bank of normal patch features): coreset selection.
export { greedyCoreset, gaussianProjection, type CoresetOptions, type CoresetResult } from './coreset.js';
