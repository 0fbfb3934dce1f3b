// Output safety for every command: check outputs before the work, never replace another
// kind of output (or any ONNX model) without --force, lock outputs against concurrent runs,
// write atomically, and stop cleanly on Ctrl-C. New commands use these, not fs directly.
export { KIND_NAMES, identifyExisting, type OutputKind } from './kinds.js';
export { prepareOutputFile, requireWritableFolder, systemReason, writeFileAtomic, writeOutputFile, writtenWord, type OutputFile } from './files.js';
export { acquireOutputLock, acquireOutputLocks, type OutputLock } from './lock.js';
export { MAPS_FOLDER_LOCK, MAPS_FOLDER_MARKER, clearPreviousMaps, prepareMapsFolder, writeMapsManifest, type MapsFolder } from './maps-folder.js';
export { processInterruption, signalInterruption, type Interruption } from './interruption.js';
