/**
 * The one owner of the training run folder: model.json + weights.bin (tf.io format), model-card.json,
 * history.json (status, format version, epochs), checkpoint/ (for --resume), backbone.json (DFR on an
 * ONNX backbone). Everything else reads and writes run folders through this module.
 *
 * Imported as `@residuum/train/run-folder`: it does not load TensorFlow.js.
 *
 *   readRunFolder(dir)       -> { version, card, model: { modelJson, weights }, backbone?, history?, interrupted? }
 *   readRunCard / readRunModel / readRunHistory / readRunBackbone: one part each
 *   writeRunModel / writeRunCard / writeRunHistory / writeRunBackbone: atomic writes
 *   RUN_FILES, runPath(dir, role), RUN_FOLDER_VERSION, RunFolderError
 */
export { RUN_FILES, RUN_FOLDER_VERSION, RunFolderError, runPath, writeFileAtomic, type RunFileRole } from './files.js';
export { readRunHistory, writeRunHistory, parseRunHistory, type RunHistory, type HistoryEpoch, type RunStatus } from './history.js';
export {
  readRunFolder,
  readRunCard,
  writeRunCard,
  readRunModel,
  writeRunModel,
  readRunBackbone,
  writeRunBackbone,
  type RunFolder,
  type RunModel,
  type RunModelJson,
} from './folder.js';
