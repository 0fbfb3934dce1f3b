/**
 * Plant integration: the outbox and its drainers for the configured destinations (MQTT, webhook,
 * central PostgreSQL). `openDestinations` runs before the service takes work: it registers the
 * outbox hooks, refuses to start on an explicit credentials rejection (DestinationAuthError), and
 * otherwise starts draining in the background; nothing here is on the inspection path.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ResultStore } from '../store.js';
import { CentralDestination } from './central.js';
import { Drainer, type Destination } from './drainer.js';
import { MqttDestination, redact, type MqttConfig } from './mqtt.js';
import { Outbox } from './outbox.js';
import { WebhookDestination, webhookWants, type WebhookConfig } from './webhook.js';

export { DestinationAuthError, type MqttConfig } from './mqtt.js';
export { verifySignature, signPayload, WEBHOOK_EVENT_KINDS, type WebhookConfig, type WebhookEventKind } from './webhook.js';
export { PAYLOAD_SCHEMA, type LineEvent, type ResultEvent, type ModelEvent } from './payload.js';
export { migrateCentral } from './central.js';

export interface DestinationsConfig {
  /** The line id (topics, payloads, the central key). */
  line: string;
  /** Station for topics of events without one (model events, results without a station). */
  station: string;
  mqtt?: MqttConfig;
  webhook?: WebhookConfig;
  /** postgres:// URL of the central database. */
  central?: string;
  /** Undelivered outbox payloads beyond this raise the alarm (default 512 MiB). */
  outboxBudgetBytes?: number;
  /** Delivered rows are pruned after this (default 1 h). */
  keepDeliveredMs?: number;
  /** Retry back-off bounds (default 250 ms .. 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface DestinationsDetail {
  backlog: Record<string, number>;
  connected: Record<string, boolean>;
  lastError: Record<string, string | null>;
  outboxBytes: number;
  outboxBudgetBytes: number;
  /** true when the undelivered outbox exceeds its disk budget (nothing is dropped). */
  overBudget: boolean;
}

export interface Destinations {
  outbox: Outbox;
  drainers: Drainer[];
  detail(): DestinationsDetail;
  close(): Promise<void>;
}

export async function openDestinations(store: ResultStore, config: DestinationsConfig, log: Logger, registry: Registry): Promise<Destinations> {
  const outbox = new Outbox(store, config.line);
  const backoff = { minMs: config.minBackoffMs ?? 250, maxMs: config.maxBackoffMs ?? 30_000 };
  const budget = config.outboxBudgetBytes ?? 512 * 1024 * 1024;
  const opened: Array<{ destination: Destination; batchSize: number }> = [];
  try {
    if (config.mqtt) {
      outbox.addDestination('mqtt');
      opened.push({ destination: await MqttDestination.open(config.mqtt, config.line, config.station, log, backoff, 3000), batchSize: 64 });
    }
    if (config.webhook) {
      const events = config.webhook.events;
      outbox.addDestination('webhook', (event) => webhookWants(events, event));
      // One event per POST and per cursor move: a failure re-sends nothing already confirmed.
      opened.push({ destination: new WebhookDestination(config.webhook), batchSize: 1 });
    }
    if (config.central) {
      const url = config.central;
      outbox.addDestination('central');
      const central = await CentralDestination.open(url, (error) =>
        log.warn({ url: redact(url), err: error.message }, 'central database unreachable at start: results are kept in the outbox until it answers'),
      );
      opened.push({ destination: central, batchSize: 500 });
    }
  } catch (error) {
    for (const { destination } of opened) await destination.close();
    outbox.close();
    throw error;
  }

  const delivered = new Counter({ name: 'residuum_line_outbox_delivered_total', help: 'Outbox events confirmed by each destination', labelNames: ['destination'], registers: [registry] });
  const drainers = opened.map(
    ({ destination, batchSize }) =>
      new Drainer(outbox, destination, log, { batchSize, minBackoffMs: backoff.minMs, maxBackoffMs: backoff.maxMs }, (count) => delivered.inc({ destination: destination.name }, count)),
  );

  let outboxBytes = 0;
  let overBudget = false;
  const checkBudget = () => {
    outboxBytes = outbox.pendingBytes();
    const over = outboxBytes > budget;
    if (over && !overBudget) log.error({ outboxBytes, budget, backlog: outbox.backlog() }, 'outbox over its disk budget: destinations are not keeping up; nothing is dropped, free disk or fix the destination');
    if (!over && overBudget) log.info({ outboxBytes, budget }, 'outbox back within its disk budget');
    overBudget = over;
  };
  checkBudget();
  const housekeeping = setInterval(() => {
    checkBudget();
    outbox.pruneDelivered(config.keepDeliveredMs ?? 3_600_000);
  }, 5000);
  housekeeping.unref();

  new Gauge({
    name: 'residuum_line_outbox_backlog',
    help: 'Undelivered outbox events per destination',
    labelNames: ['destination'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [destination, count] of Object.entries(outbox.backlog())) this.set({ destination }, count);
    },
  });
  new Gauge({
    name: 'residuum_line_outbox_bytes',
    help: 'Bytes of undelivered outbox payloads',
    registers: [registry],
    collect() {
      checkBudget();
      this.set(outboxBytes);
    },
  });
  new Gauge({ name: 'residuum_line_outbox_budget_bytes', help: 'The outbox disk budget', registers: [registry] }).set(budget);
  new Gauge({
    name: 'residuum_line_outbox_over_budget',
    help: '1 while undelivered outbox payloads exceed the disk budget (an alarm: nothing is dropped)',
    registers: [registry],
    collect() {
      this.set(overBudget ? 1 : 0);
    },
  });
  new Gauge({
    name: 'residuum_line_destination_connected',
    help: '1 while the destination answered its last attempt',
    labelNames: ['destination'],
    registers: [registry],
    collect() {
      for (const drainer of drainers) this.set({ destination: drainer.destination.name }, drainer.destination.connected ? 1 : 0);
    },
  });

  for (const drainer of drainers) drainer.start();
  return {
    outbox,
    drainers,
    detail() {
      checkBudget();
      return {
        backlog: outbox.backlog(),
        connected: Object.fromEntries(drainers.map((d) => [d.destination.name, d.destination.connected])),
        lastError: Object.fromEntries(drainers.map((d) => [d.destination.name, d.stats.lastError])),
        outboxBytes,
        outboxBudgetBytes: budget,
        overBudget,
      };
    },
    async close() {
      clearInterval(housekeeping);
      // Closing the connections ends a delivery that waits on a silent server.
      const stopping = drainers.map((drainer) => drainer.stop());
      await Promise.all(drainers.map((drainer) => drainer.destination.close()));
      await Promise.all(stopping);
      outbox.close();
    },
  };
}
