/**
 * Destinations against real servers (Mosquitto, PostgreSQL, a loopback HTTP endpoint): bad
 * credentials refuse the start naming the key; unreachable destinations never block inspection
 * and show as backlog; the outbox budget alarm; a webhook that answers 500 for a while.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { verifySignature } from '../src/destinations/index.js';
import { getJson, postImage, samples, startTestService, syntheticDefect, tempDir, waitFor } from './helpers.js';
import { freePort, Mosquitto, Postgres } from './support/servers.js';

const quiet = pino({ level: 'silent' });

describe('destinations: start-up rules', () => {
  let closedBroker: Mosquitto;
  let pg: Postgres;
  beforeAll(async () => {
    [closedBroker, pg] = await Promise.all([Mosquitto.start({ anonymous: false }), Postgres.start()]);
  });
  afterAll(async () => {
    await Promise.all([closedBroker?.stop(), pg?.stop()]);
  });

  it('a broker that rejects the credentials refuses the start, naming the key', async () => {
    const data = tempDir('mqtt-auth');
    try {
      await expect(startTestService(data.dir, { watchDir: false, logger: quiet, destinations: { line: 'L', station: 's', mqtt: { url: closedBroker.url } } })).rejects.toThrow(
        /^mqtt\.url: the MQTT broker rejected the credentials \(CONNACK 5\)/,
      );
    } finally {
      data.remove();
    }
  });

  it('PostgreSQL rejecting the password refuses the start, naming the key', async () => {
    const data = tempDir('pg-auth');
    try {
      const wrong = pg.url.replace(pg.password, 'wrong-password');
      await expect(startTestService(data.dir, { watchDir: false, logger: quiet, destinations: { line: 'L', station: 's', central: wrong } })).rejects.toThrow(
        /^central\.url: PostgreSQL rejected the credentials \(28P01/,
      );
    } finally {
      data.remove();
    }
  });

  it('unreachable destinations: inspection goes on, /readyz stays ready and shows the backlog; over the outbox budget is an alarm, not a loss', async () => {
    const data = tempDir('unreachable');
    const [mqttPort, pgPort, hookPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const service = await startTestService(data.dir, {
      watchDir: false,
      heatmaps: 'all',
      logger: quiet,
      destinations: {
        line: 'L',
        station: 's',
        mqtt: { url: `mqtt://127.0.0.1:${mqttPort}` },
        webhook: { url: `http://127.0.0.1:${hookPort}/hook`, events: ['result', 'model'] },
        central: `postgres://postgres:x@127.0.0.1:${pgPort}/plant`,
        outboxBudgetBytes: 4000,
      },
    });
    try {
      for (const sample of samples.slice(0, 6)) expect((await postImage(service.url, sample.bytes)).status).toBe(200);
      const ready = await getJson(`${service.url}/readyz`);
      expect(ready.status).toBe(200);
      // 6 results + the model activation, for each destination.
      expect(ready.body.destinations.backlog).toEqual({ mqtt: 7, webhook: 7, central: 7 });
      expect(ready.body.destinations.connected).toEqual({ mqtt: false, webhook: false, central: false });
      expect(ready.body.destinations.overBudget).toBe(true);
      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      expect(metrics).toMatch(/residuum_line_outbox_backlog\{destination="central"\} 7/);
      expect(metrics).toMatch(/residuum_line_outbox_over_budget 1/);
      // Nothing dropped: every row is still there, and retention keeps their files.
      expect(service.destinations!.outbox.pending('mqtt', 100)).toHaveLength(7);
      expect(service.store.applyRetention({ diskBudgetBytes: 0, maxAgeDays: 0 })).toBe(0);
      expect(service.store.query({ limit: 10 }).every((row) => row.heatmapFile !== null)).toBe(true);
    } finally {
      await service.close();
      data.remove();
    }
  });
});

describe('webhook', () => {
  const secret = 'line-secret';
  let server: Server;
  let failUntil = 0;
  const received: Array<{ id: string; event: string; body: string; valid: boolean }> = [];
  let failures = 0;
  let url = '';

  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (Date.now() < failUntil) {
          failures += 1;
          response.writeHead(500).end('down for maintenance');
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({
          id: String(request.headers['x-residuum-id']),
          event: String(request.headers['x-residuum-event']),
          body,
          valid: verifySignature(secret, body, String(request.headers['x-residuum-signature'] ?? '')),
        });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('an endpoint answering 500 for 3 s: everything is delivered after recovery, in order, signatures valid', async () => {
    const data = tempDir('webhook');
    failUntil = Date.now() + 3000;
    const service = await startTestService(data.dir, {
      watchDir: false,
      heatmaps: 'none',
      logger: quiet,
      destinations: { line: 'L', station: 's', webhook: { url, secret, events: ['anomaly', 'model'] }, minBackoffMs: 100, maxBackoffMs: 1000 },
    });
    try {
      const defect = await syntheticDefect();
      const ids: string[] = [];
      for (let i = 0; i < 40; i += 1) {
        const { status, body } = await postImage(service.url, i % 4 === 0 ? defect : samples[i % 12].bytes, { contentType: i % 4 === 0 ? 'image/png' : 'image/jpeg' });
        expect(status).toBe(200);
        if (body.verdict !== 'ok') ids.push(body.id as string);
      }
      expect(ids.length).toBe(10);
      const started = Date.now();
      await waitFor(() => received.length >= ids.length + 1, 30_000, 'webhook deliveries');
      console.log(`webhook: ${failures} answers 500, then ${received.length} deliveries ${Date.now() - started} ms after the last image (endpoint down until ${failUntil - started} ms)`);
      expect(failures).toBeGreaterThan(0);
      expect(received.every((r) => r.valid)).toBe(true);
      // Every payload matches the committed JSON Schema.
      const schema = JSON.parse(readFileSync(new URL('../schemas/line-event.v1.schema.json', import.meta.url), 'utf8')) as object;
      const validate = new Ajv2020({ validateFormats: false }).compile(schema);
      for (const r of received) expect(validate(JSON.parse(r.body)), JSON.stringify(validate.errors)).toBe(true);
      expect(received[0].event).toBe('model');
      expect(received.slice(1).map((r) => r.id)).toEqual(ids);
      expect(received.slice(1).every((r) => r.event === 'anomaly' && JSON.parse(r.body).capturedAt)).toBe(true);
      // A tampered body or a wrong secret does not verify.
      const header = `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`;
      expect(verifySignature(secret, received[1].body, header)).toBe(false);
    } finally {
      await service.close();
      data.remove();
    }
  });
});

describe('MQTT over TLS with credentials', () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    broker = await Mosquitto.start({ anonymous: false, tls: true, users: { press3: 'right-password', reader: 'reader-password' } });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('publishes results, anomalies and a retained status to a TLS broker; a wrong password refuses the start naming the key', async () => {
    const { connectAsync } = await import('mqtt');
    const { readFileSync: read } = await import('node:fs');
    const ca = read(broker.caFile!);
    const subscriber = await connectAsync(broker.url, { ca, username: 'reader', password: 'reader-password', clientId: 'tls-reader', reconnectPeriod: 0 });
    const messages: Array<{ topic: string; body: Record<string, unknown>; retain: boolean }> = [];
    subscriber.on('message', (topic, payload, packet) => messages.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown>, retain: packet.retain }));
    await subscriber.subscribeAsync('residuum/press-3/#', { qos: 1 });

    const data = tempDir('mqtt-tls');
    try {
      const wrong = { line: 'press-3', station: 'st-1', mqtt: { url: broker.url, ca: broker.caFile!, username: 'press3', password: 'wrong' } };
      await expect(startTestService(data.dir, { watchDir: false, logger: quiet, destinations: wrong })).rejects.toThrow(/^mqtt\.username: the MQTT broker rejected the credentials/);

      const service = await startTestService(data.dir, {
        watchDir: false,
        heatmaps: 'none',
        logger: quiet,
        destinations: { line: 'press-3', station: 'st-1', mqtt: { url: broker.url, ca: broker.caFile!, username: 'press3', password: 'right-password' } },
      });
      let defectId = '';
      try {
        expect((await getJson(`${service.url}/readyz`)).body.destinations.connected).toEqual({ mqtt: true });
        const { body } = await postImage(service.url, await syntheticDefect(), { contentType: 'image/png', query: '?station=st-1&partId=P1' });
        expect(body.verdict).toBe('anomalous');
        defectId = body.id as string;
        await waitFor(() => messages.some((m) => m.topic.endsWith('/anomalies')), 10_000, 'the anomaly message');
      } finally {
        await service.close();
      }
      await waitFor(() => messages.some((m) => m.topic.endsWith('/status') && m.body.status === 'offline'), 10_000, 'the offline status');
      const topics = messages.map((m) => m.topic);
      expect(topics).toContain('residuum/press-3/st-1/model');
      const anomaly = messages.find((m) => m.topic === 'residuum/press-3/st-1/anomalies')!;
      expect(anomaly.body).toMatchObject({ schema: 'residuum.line-event/v1', resultId: defectId, partId: 'P1', reject: true });
      expect(messages.find((m) => m.topic === 'residuum/press-3/st-1/results')!.body.resultId).toBe(defectId);
      expect(messages.some((m) => m.topic === 'residuum/press-3/st-1/status' && m.body.status === 'online')).toBe(true);

      // The status is retained: a new subscriber sees the last one at once.
      const late = await connectAsync(broker.url, { ca, username: 'reader', password: 'reader-password', clientId: 'tls-late', reconnectPeriod: 0 });
      const retained = new Promise<Record<string, unknown>>((resolve) => late.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString()) as Record<string, unknown>)));
      await late.subscribeAsync('residuum/press-3/st-1/status', { qos: 1 });
      expect((await retained).status).toBe('offline');
      await late.endAsync(true);
    } finally {
      await subscriber.endAsync(true);
      data.remove();
    }
  });
});

describe('MQTT Last Will', () => {
  it('a service killed with SIGKILL leaves the retained status "offline" (the broker publishes the will)', async () => {
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const { connectAsync } = await import('mqtt');
    const broker = await Mosquitto.start();
    const data = tempDir('mqtt-will');
    const statuses: string[] = [];
    const subscriber = await connectAsync(broker.url, { clientId: 'will-reader', reconnectPeriod: 0 });
    subscriber.on('message', (_topic, payload) => statuses.push((JSON.parse(payload.toString()) as { status: string }).status));
    await subscriber.subscribeAsync('residuum/LW/s/status', { qos: 1 });
    const childScript = fileURLToPath(new URL('./fixtures/serve-child.ts', import.meta.url));
    const options = { dataDir: data.dir, watchDir: false, destinations: { line: 'LW', station: 's', mqtt: { url: broker.url } } };
    const child = spawn(process.execPath, ['--conditions=@residuum/source', '--import', 'tsx', childScript, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('READY') && resolve());
        child.once('exit', (code) => reject(new Error(`service exited ${code}`)));
      });
      await waitFor(() => statuses.includes('online'), 10_000, 'the online status');
      child.kill('SIGKILL');
      await waitFor(() => statuses[statuses.length - 1] === 'offline', 10_000, 'the Last Will');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await subscriber.endAsync(true);
      await broker.stop();
      data.remove();
    }
  }, 60_000);
});
