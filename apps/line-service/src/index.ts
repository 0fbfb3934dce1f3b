export { startLineService, runLineService, isLoopback, DEFAULTS, type LineService, type LineServiceOptions } from './service.js';
export { defaultModelPath } from './default-model.js';
export { toApiResult, type ApiResult } from './result-format.js';
export type { ResultRow, Verdict, FileIdentity } from './store.js';
export type { HeatmapPolicy } from './pipeline.js';
export { loadLineConfig, validateLineConfig, checkUrl, ConfigError, MQTT_SCHEMES, WEBHOOK_SCHEMES, POSTGRES_SCHEMES, type LineConfig } from './config.js';
export { DestinationAuthError, verifySignature, PAYLOAD_SCHEMA, type DestinationsConfig, type LineEvent, type ResultEvent, type ModelEvent } from './destinations/index.js';
export { loadPlantReport, PlantReportError, type PlantReportData, type PlantGroup, type PlantSeries, type PlantAnomaly } from './destinations/plant-report-data.js';
