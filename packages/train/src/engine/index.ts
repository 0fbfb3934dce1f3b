export { createDataParallelEngine, createLocalEngine } from './data-parallel.js';
export type { DataParallelEngine, DataParallelOptions, EngineOptions, TrainingEngine } from './data-parallel.js';
export type { AdamSettings, BatchShape, NamedWeight, Trainable, TrainableFactory } from './replica.js';
