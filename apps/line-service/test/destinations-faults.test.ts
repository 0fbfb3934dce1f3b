/**
 * Fault tests with real servers (bounded in count and time):
 * - Mosquitto stopped for 30 s during a load of 1,200 images, then restarted (persistence on, the
 *   subscriber on a persistent session): every result arrives on every topic, in outbox order by
 *   first arrival; duplicates at most the in-flight window; inspection never paused.
 * - PostgreSQL stopped during load, the service restarted while it is down, the database back:
 *   the central table holds exactly the line's results.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import pg from 'pg';
import pino from 'pino';
import { loadPlantReport, type LineService } from '../src/index.js';
import { postImage, runClients, samples, startTestService, syntheticDefect, tempDir, waitFor } from './helpers.js';
import { Mosquitto, Postgres } from './support/servers.js';

const quiet = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The MQTT destination's batch (in-flight window), in outbox entries. */
const MQTT_WINDOW = 64;

async function images(): Promise<Array<{ bytes: Uint8Array; type: string }>> {
  const defect = await syntheticDefect();
  return [...samples.slice(0, 12).map((s) => ({ bytes: s.bytes, type: 'image/jpeg' })), { bytes: defect, type: 'image/png' }];
}

/** Sends `count` images from 4 clients at about `perSecond`. */
async function pacedLoad(url: string, count: number, perSecond: number, set: Array<{ bytes: Uint8Array; type: string }>, tag: string): Promise<string[]> {
  const started = Date.now();
  return await runClients(count, 4, async (i) => {
    const due = started + (i * 1000) / perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    const image = set[i % set.length];
    const { status, body } = await postImage(url, image.bytes, { contentType: image.type, query: `?partId=${tag}-${i}&station=s1` });
    if (status !== 200) throw new Error(`image ${i}: HTTP ${status} ${JSON.stringify(body)}`);
    return body.id as string;
  });
}

describe('MQTT: broker outage during load', () => {
  let broker: Mosquitto;
  let service: LineService;
  let subscriber: MqttClient;
  const data = tempDir('mqtt-fault');
  const arrivals = new Map<string, string[]>();

  beforeAll(async () => {
    broker = await Mosquitto.start();
    subscriber = await connectAsync(broker.url, { clientId: 'residuum-test-subscriber', clean: false, reconnectPeriod: 500, connectTimeout: 5000 });
    subscriber.on('message', (topic, payload) => {
      const event = JSON.parse(payload.toString()) as { resultId?: string; eventId?: string; status?: string };
      if (topic.endsWith('/status')) return;
      const list = arrivals.get(topic) ?? [];
      list.push(event.resultId ?? event.eventId ?? '?');
      arrivals.set(topic, list);
    });
    await subscriber.subscribeAsync('residuum/L1/#', { qos: 1 });
    service = await startTestService(data.dir, {
      watchDir: false,
      heatmaps: 'none',
      logger: quiet,
      destinations: { line: 'L1', station: 's1', mqtt: { url: broker.url }, minBackoffMs: 200, maxBackoffMs: 2000 },
    });
  });
  afterAll(async () => {
    await service?.close();
    await subscriber?.endAsync(true);
    await broker?.stop();
    data.remove();
  });

  it('1,200 images, broker down for 30 s: every result arrives in order per topic, duplicates within the window', async () => {
    const set = await images();
    const load = pacedLoad(service.url, 1200, 30, set, 'mqtt');
    await waitFor(() => service.store.count() >= 200, 60_000, '200 results before the outage');
    await broker.pause();
    const downAt = Date.now();
    const countAtDown = service.store.count();
    await sleep(30_000);
    const inspectedWhileDown = service.store.count() - countAtDown;
    await broker.resume();
    const upAt = Date.now();
    const ids = await load;
    const loadDoneAt = Date.now();

    // Expected per topic, in outbox order.
    const rows = service.store.db.prepare("SELECT kind, payload FROM outbox WHERE destination = 'mqtt' ORDER BY seq").all() as Array<{ kind: string; payload: string }>;
    const expected = new Map<string, string[]>();
    for (const row of rows) {
      const event = JSON.parse(row.payload) as { kind: string; resultId?: string; eventId?: string; reject?: boolean; station?: string };
      const topics = event.kind === 'model' ? ['residuum/L1/s1/model'] : event.reject ? ['residuum/L1/s1/results', 'residuum/L1/s1/anomalies'] : ['residuum/L1/s1/results'];
      for (const topic of topics) expected.set(topic, [...(expected.get(topic) ?? []), (event.resultId ?? event.eventId)!]);
    }
    expect(expected.get('residuum/L1/s1/results')).toHaveLength(1200);
    expect(new Set(expected.get('residuum/L1/s1/results'))).toEqual(new Set(ids));
    const firstArrivals = (topic: string) => [...new Set(arrivals.get(topic) ?? [])];
    await waitFor(() => [...expected].every(([topic, list]) => firstArrivals(topic).length === list.length), 120_000, 'every message after the outage');
    const caughtUpMs = Date.now() - Math.max(upAt, loadDoneAt);

    const report: Record<string, unknown> = { downMs: upAt - downAt, inspectedWhileDown, catchUpAfterLoadMs: caughtUpMs, catchUpAfterRestartMs: Date.now() - upAt };
    for (const [topic, list] of expected) {
      const got = arrivals.get(topic) ?? [];
      expect(firstArrivals(topic), `${topic} order by first arrival`).toEqual(list);
      const duplicates = got.length - list.length;
      report[topic] = { expected: list.length, received: got.length, duplicates };
      // mqtt.js re-sends its unacknowledged window on reconnect and the outbox re-sends the failed batch.
      expect(duplicates).toBeLessThanOrEqual(2 * MQTT_WINDOW);
    }
    console.log('mqtt outage:', JSON.stringify(report));
    expect(inspectedWhileDown).toBeGreaterThan(500);
    // The subscriber may see the last messages before the service has their PUBACKs.
    await waitFor(() => service.destinations!.outbox.backlog().mqtt === 0, 10_000, 'the mqtt backlog to reach 0');
  }, 240_000);
});

describe('PostgreSQL: outage during load and a service restart while it is down', () => {
  let server: Postgres;
  const data = tempDir('pg-fault');

  beforeAll(async () => {
    server = await Postgres.start();
  });
  afterAll(async () => {
    await server?.stop();
    data.remove();
  });

  it('the central table ends with exactly the line results', async () => {
    const set = await images();
    const destinations = { line: 'L2', station: 's1', central: server.url, minBackoffMs: 200, maxBackoffMs: 2000 };
    let service = await startTestService(data.dir, { watchDir: false, heatmaps: 'none', logger: quiet, destinations });
    const first = pacedLoad(service.url, 400, 40, set, 'pg-a');
    await waitFor(() => service.store.count() >= 100, 60_000, '100 results before the outage');
    await server.pause();
    const ids = await first;
    await service.close();
    service = await startTestService(data.dir, { watchDir: false, heatmaps: 'none', logger: quiet, destinations });
    try {
      ids.push(...(await pacedLoad(service.url, 100, 40, set, 'pg-b')));
      const backlogWhileDown = service.destinations!.outbox.backlog().central;
      await server.resume();
      const upAt = Date.now();
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        const count = async () => Number((await client.query("SELECT count(*) AS n FROM residuum_results WHERE line_id = 'L2'")).rows[0].n);
        await waitFor(async () => (await count()) >= 500, 60_000, 'the central table to catch up');
        const catchUpMs = Date.now() - upAt;
        await sleep(1000);
        const central = (await client.query("SELECT result_id, verdict, score FROM residuum_results WHERE line_id = 'L2' ORDER BY result_id")).rows as Array<{ result_id: string; verdict: string; score: number }>;
        const local = service.store.query({ limit: 10_000 });
        console.log(`pg outage: ${ids.length} results, backlog ${backlogWhileDown} while down, central caught up ${catchUpMs} ms after the database returned`);
        expect(central).toHaveLength(500);
        expect(local).toHaveLength(500);
        expect(central.map((r) => r.result_id)).toEqual(local.map((r) => r.id).sort());
        expect(new Set(ids).size).toBe(500);
        const byId = new Map(local.map((r) => [r.id, r]));
        for (const row of central) {
          expect(row.verdict).toBe(byId.get(row.result_id)!.verdict);
          expect(row.score).toBeCloseTo(byId.get(row.result_id)!.score!, 12);
        }
        const models = await client.query("SELECT count(*) AS n FROM residuum_model_events WHERE line_id = 'L2'");
        expect(Number(models.rows[0].n)).toBeGreaterThanOrEqual(1);
        expect(service.destinations!.outbox.backlog()).toEqual({ central: 0 });

        // The plant report reads the same table.
        const report = await loadPlantReport(server.url, 3_600_000);
        const lineGroups = report.groups.filter((g) => g.line === 'L2');
        expect(lineGroups.reduce((sum, g) => sum + g.results, 0)).toBe(500);
        expect(lineGroups.reduce((sum, g) => sum + g.anomalous, 0)).toBe(local.filter((r) => r.verdict === 'anomalous').length);
        expect(report.top.length).toBeGreaterThan(0);
        expect(report.top[0].normalizedScore).toBeGreaterThanOrEqual(report.top[report.top.length - 1].normalizedScore!);
      } finally {
        await client.end();
      }
    } finally {
      await service.close();
    }
  }, 180_000);
});
