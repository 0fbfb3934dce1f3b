/**
 * A run folder's `backbone.json`: written by the trainer when a family's backbone runs in
 * onnxruntime (DFR on ResNet-50), read by the converter, which splices that backbone in front of
 * the trained head. Defined here because both sides sit on the same layer and must agree.
 */
export interface RunBackboneFile {
  kind: 'onnx';
  name: string;
  onnxPath: string;
  sha256: string;
  taps: string[];
}

export const RUN_BACKBONE_FILE = 'backbone.json';
