export { startLineService, runLineService, isLoopback, DEFAULTS, type LineService, type LineServiceOptions } from './service.js';
export { defaultModelPath } from './default-model.js';
export { toApiResult, type ApiResult } from './result-format.js';
export type { ResultRow, Verdict, FileIdentity } from './store.js';
export type { HeatmapPolicy } from './pipeline.js';
