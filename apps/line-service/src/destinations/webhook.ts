/**
 * Webhook destination: one HTTP POST per event, in outbox order, JSON body (payload.ts).
 * A 2xx confirms the event; anything else (or no answer within `timeoutMs`) fails it and the
 * drainer retries from that event with exponential back-off.
 *
 * Signature (when a secret is configured), in the style of Stripe's:
 *   X-Residuum-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 * Verify by recomputing the HMAC over the timestamp, a dot and the raw body bytes, comparing in
 * constant time, and rejecting timestamps older than a few minutes (replay). See verifySignature.
 * Other headers: X-Residuum-Event (result | anomaly | model), X-Residuum-Id (result or event id).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Destination } from './drainer.js';
import type { OutboxEntry } from './outbox.js';
import type { LineEvent } from './payload.js';

/** `result`: every result; `anomaly`: rejected results only; `model`: model activations. */
export type WebhookEventKind = 'result' | 'anomaly' | 'model';
export const WEBHOOK_EVENT_KINDS: readonly WebhookEventKind[] = ['result', 'anomaly', 'model'];

export interface WebhookConfig {
  url: string;
  secret?: string;
  events: readonly WebhookEventKind[];
  timeoutMs?: number;
}

export function webhookEventKind(event: LineEvent): WebhookEventKind {
  return event.kind === 'model' ? 'model' : event.reject ? 'anomaly' : 'result';
}

/** Whether the webhook wants this event (`result` includes rejected results). */
export function webhookWants(events: readonly WebhookEventKind[], event: LineEvent): boolean {
  if (event.kind === 'model') return events.includes('model');
  return events.includes('result') || (event.reject && events.includes('anomaly'));
}

export function signPayload(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** The receiver's check: true when `header` signs `body` with `secret` within `toleranceS`. */
export function verifySignature(secret: string, body: string, header: string, toleranceS = 300, nowS = Math.floor(Date.now() / 1000)): boolean {
  const fields = new Map(header.split(',').map((part) => part.split('=', 2) as [string, string]));
  const t = Number(fields.get('t'));
  const given = fields.get('v1') ?? '';
  if (!Number.isInteger(t) || Math.abs(nowS - t) > toleranceS || !/^[0-9a-f]{64}$/.test(given)) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}

export class WebhookDestination implements Destination {
  readonly name = 'webhook';
  private lastOk = true;

  constructor(private readonly config: WebhookConfig) {}

  get connected(): boolean {
    return this.lastOk;
  }

  async deliver(entries: readonly OutboxEntry[]): Promise<void> {
    for (const entry of entries) {
      const body = JSON.stringify(entry.event);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'residuum-line',
        'x-residuum-event': webhookEventKind(entry.event),
        'x-residuum-id': entry.event.kind === 'model' ? entry.event.eventId : entry.event.resultId,
      };
      if (this.config.secret) headers['x-residuum-signature'] = signPayload(this.config.secret, body, Math.floor(Date.now() / 1000));
      let response: Response;
      try {
        response = await fetch(this.config.url, { method: 'POST', body, headers, signal: AbortSignal.timeout(this.config.timeoutMs ?? 10_000) });
        await response.arrayBuffer();
      } catch (error) {
        this.lastOk = false;
        throw new Error(`webhook: ${(error as Error).message}`);
      }
      this.lastOk = response.ok;
      if (!response.ok) throw new Error(`webhook: HTTP ${response.status} for ${entry.event.kind === 'model' ? entry.event.eventId : entry.event.resultId}`);
    }
  }

  async close(): Promise<void> {}
}
