/**
 * One drainer per destination: takes the oldest undelivered outbox entries, hands them to the
 * destination, moves the cursor when the destination confirms them, and retries the same entries
 * with exponential back-off (capped, with jitter) when it fails. Entries are never skipped, so
 * each destination receives events in commit order, at least once; a failure part-way through a
 * batch re-sends at most that batch (the in-flight window).
 *
 * Nothing here is on the inspection path: a destination that is down only grows its backlog.
 */
import type { Logger } from 'pino';
import type { Outbox, OutboxEntry } from './outbox.js';

export interface Destination {
  /** The outbox destination name: mqtt, webhook, central. */
  readonly name: string;
  /** Resolves when every entry is confirmed (PUBACK, HTTP 2xx, committed); rejects otherwise. */
  deliver(entries: readonly OutboxEntry[]): Promise<void>;
  /** True while connected (for /readyz detail; never part of readiness). */
  readonly connected: boolean;
  close(): Promise<void>;
}

export interface DrainerOptions {
  batchSize: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

export interface DrainerStats {
  delivered: number;
  failures: number;
  lastError: string | null;
  lastDeliveredAt: string | null;
}

export class Drainer {
  readonly stats: DrainerStats = { delivered: 0, failures: 0, lastError: null, lastDeliveredAt: null };
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private backoffMs: number;

  constructor(
    private readonly outbox: Outbox,
    readonly destination: Destination,
    private readonly log: Logger,
    private readonly options: DrainerOptions,
    private readonly onDelivered: (count: number) => void = () => undefined,
  ) {
    this.backoffMs = options.minBackoffMs;
    outbox.onAppend(() => this.wake());
  }

  start(): void {
    this.loop ??= this.run();
  }

  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
  }

  /** Waits `ms`; a wake (new events) ends the wait early only when `wakeable` (not during back-off). */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        if (!wakeable && !this.stopped) return;
        this.wakeUp = null;
        done();
      };
    });
  }

  private async run(): Promise<void> {
    const name = this.destination.name;
    while (!this.stopped) {
      const entries = this.outbox.pending(name, this.options.batchSize);
      if (entries.length === 0) {
        await this.sleep(1000, true);
        continue;
      }
      try {
        await this.destination.deliver(entries);
        this.outbox.markDelivered(name, entries[entries.length - 1].seq);
        this.stats.delivered += entries.length;
        this.stats.lastDeliveredAt = new Date().toISOString();
        this.onDelivered(entries.length);
        if (this.stats.lastError !== null) {
          this.log.info({ destination: name, failures: this.stats.failures }, 'destination reachable again: delivering the backlog');
          this.stats.lastError = null;
        }
        this.backoffMs = this.options.minBackoffMs;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (this.stats.lastError === null) this.log.warn({ destination: name, err: message }, 'destination unavailable: events stay in the outbox and are retried');
        this.stats.failures += 1;
        this.stats.lastError = message;
        if (this.stopped) break;
        // Jitter keeps many lines from retrying a recovering server in lockstep.
        await this.sleep(this.backoffMs * (0.75 + Math.random() * 0.5), false);
        this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs);
      }
    }
  }
}
