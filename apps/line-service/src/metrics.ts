/** Prometheus metrics (prom-client), on the service's own registry so several services can share a process. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface LineMetrics {
  registry: Registry;
  images: Counter<'verdict'>;
  errors: Counter<'reason'>;
  stage: Histogram<'stage'>;
  queueDepth: Gauge;
  inFlight: Gauge;
  rejectedFull: Counter;
  modelInfo: Gauge<'version' | 'name' | 'sha256'>;
  watchFiles: Counter<'outcome'>;
}

export function createMetrics(): LineMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'residuum_line_' });
  return {
    registry,
    images: new Counter({ name: 'residuum_line_images_total', help: 'Images judged, by verdict', labelNames: ['verdict'], registers: [registry] }),
    errors: new Counter({ name: 'residuum_line_errors_total', help: 'Error verdicts, by reason', labelNames: ['reason'], registers: [registry] }),
    stage: new Histogram({
      name: 'residuum_line_stage_seconds',
      help: 'Per-image time per stage (queue, decode, preprocess, inference, scoring, store, total; commit per batch)',
      labelNames: ['stage'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({ name: 'residuum_line_queue_depth', help: 'Images waiting for a batch', registers: [registry] }),
    inFlight: new Gauge({ name: 'residuum_line_in_flight', help: 'Images being inspected or stored', registers: [registry] }),
    rejectedFull: new Counter({ name: 'residuum_line_rejected_queue_full_total', help: 'Requests answered 503 because the queue was full', registers: [registry] }),
    modelInfo: new Gauge({
      name: 'residuum_line_model_info',
      help: 'The active model (value 1) by version, name and sha256',
      labelNames: ['version', 'name', 'sha256'],
      registers: [registry],
    }),
    watchFiles: new Counter({ name: 'residuum_line_watch_files_total', help: 'Watch-folder files, by outcome', labelNames: ['outcome'], registers: [registry] }),
  };
}
