export { initBackend, wasmBinaryDirectory, BackendUnavailableError, BACKEND_REQUESTS } from './init-backend.js';
export type { BackendRequest, BackendSelection, InitBackendOptions } from './init-backend.js';
export { registerWasmTrainingKernels, wasmTrainingKernelsRegistered, WASM_TRAINING_KERNELS } from './wasm-kernels.js';
