export { runCli } from './cli.js';
export type { InspectCliOptions, EvaluateCliOptions, TrainCliOptions, ExportCliOptions } from './cli.js';
export { createCapturingIo, processIo, type CliIo, type CapturingIo } from './util/io.js';
export { ExitCode, type ExitCodeValue } from './util/exit-codes.js';
export { renderEvaluationReport, type EvaluationReportData, type ReportGalleryItem } from './report/evaluation-report.js';
