export { createDataParallelEngine, createLocalEngine, createTrainingEngine, recommendedWorkerCount } from './data-parallel.js';
export type { DataParallelEngine, DataParallelOptions, EngineOptions, TrainingEngine, TrainingEngineOptions } from './data-parallel.js';
export type { AdamSettings, BatchShape, NamedWeight, Trainable, TrainableFactory } from './replica.js';
export type { OptimizerState } from './adam-state.js';
