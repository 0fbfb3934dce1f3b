/**
 * The HTTP API on loopback: bad input answered 4xx with a reason and recorded as an error row,
 * the service keeps serving; results paging, filters and CSV; the 503 path with a tiny queue;
 * the deadline; probes, metrics and the event stream; model changes need a token beyond localhost.
 */
import { deflateSync, crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LineService } from '../src/index.js';
import { dfrModel, getJson, postImage, runClients, samples, startTestService, syntheticDefect, tempDir, waitFor } from './helpers.js';

/** A valid PNG header declaring width x height, with a tiny IDAT: a decompression bomb's shape. */
function pngDeclaring(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  return new Uint8Array(
    Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1024))), chunk('IEND', Buffer.alloc(0))]),
  );
}

describe('HTTP API', () => {
  const data = tempDir('http');
  let service: LineService;
  beforeAll(async () => {
    service = await startTestService(data.dir, { watchDir: false, maxBodyBytes: 256 * 1024 });
  });
  afterAll(async () => {
    await service?.close();
    data.remove();
  });

  it('answers a verdict with id, score, threshold, model and latency split, and stores it', async () => {
    const { status, body } = await postImage(service.url, samples[0].bytes, { query: '?partId=A1&station=st2&camera=c3' });
    expect(status).toBe(200);
    expect(body.verdict).toBe('ok');
    expect(body.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(body.model).toMatchObject({ version: 1, name: 'cae-64px-grey' });
    expect((body.model as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(body).toMatchObject({ partId: 'A1', station: 'st2', camera: 'c3' });
    expect(Object.keys(body.latencyMs as object)).toEqual(expect.arrayContaining(['queue', 'decode', 'inference', 'store', 'total']));
    expect(service.store.get(body.id as string)?.verdict).toBe('ok');
    const heatmap = await fetch(`${service.url}${body.heatmap as string}`);
    expect(heatmap.status).toBe(200);
    expect(heatmap.headers.get('content-type')).toBe('image/png');
  });

  it('multipart with part id / station / camera fields; an anomalous part keeps its original image', async () => {
    const defect = await syntheticDefect();
    const form = new FormData();
    form.append('partId', 'M-7');
    form.append('station', 'press');
    form.append('file', new Blob([defect as Uint8Array<ArrayBuffer>], { type: 'image/png' }), 'part.png');
    form.append('camera', 'top');
    const { status, body } = await getJson(`${service.url}/v1/inspect`, { method: 'POST', body: form });
    expect(status).toBe(200);
    expect(body).toMatchObject({ verdict: 'anomalous', partId: 'M-7', station: 'press', camera: 'top' });
    const original = await fetch(`${service.url}${body.image as string}`);
    expect(new Uint8Array(await original.arrayBuffer())).toEqual(defect);
  });

  const truncated = samples[1].bytes.subarray(0, 3000);
  const corrupt = new Uint8Array(samples[2].bytes);
  corrupt.fill(0x41, 400, 3000);
  const badInputs: Array<[string, () => Promise<{ status: number; body: Record<string, unknown> }>, number, RegExp]> = [
    ['zero-byte body', () => postImage(service.url, new Uint8Array(0)), 422, /empty/],
    ['truncated JPEG', () => postImage(service.url, truncated), 422, /truncated JPEG/],
    ['corrupt JPEG', () => postImage(service.url, corrupt), 422, /corrupt|truncated/],
    ['foreign file (a PDF)', () => postImage(service.url, new TextEncoder().encode('%PDF-1.4\n1 0 obj\n<<>>\nendobj\n')), 422, /not an image/],
    ['wrong content type', () => postImage(service.url, samples[0].bytes, { contentType: 'text/plain' }), 415, /unsupported content type/],
    ['JSON body', () => postImage(service.url, new TextEncoder().encode('{"a":1}'), { contentType: 'application/json' }), 415, /unsupported content type/],
    ['oversized body', () => postImage(service.url, new Uint8Array(300 * 1024).fill(7)), 413, /body too large/],
    ['decompression bomb (60000 x 60000 PNG header)', () => postImage(service.url, pngDeclaring(60000, 60000), { contentType: 'image/png' }), 422, /too many pixels/],
    ['bad capture time', () => postImage(service.url, samples[0].bytes, { query: '?captureTime=yesterday' }), 400, /capture time/],
  ];
  for (const [name, send, expectedStatus, reason] of badInputs) {
    it(`bad input: ${name} -> ${expectedStatus} with a reason, recorded as an error row`, async () => {
      const before = service.store.count();
      const { status, body } = await send();
      expect(status).toBe(expectedStatus);
      expect(body.verdict).toBe('error');
      expect(body.error).toMatch(reason);
      expect(service.store.count()).toBe(before + 1);
      expect(service.store.get(body.id as string)?.error).toMatch(reason);
      // ... and the service keeps serving.
      expect((await postImage(service.url, samples[3].bytes)).status).toBe(200);
    });
  }

  it('multipart without a file part -> 400, recorded', async () => {
    const form = new FormData();
    form.append('partId', 'no-file');
    const { status, body } = await getJson(`${service.url}/v1/inspect`, { method: 'POST', body: form });
    expect(status).toBe(400);
    expect(body.error).toMatch(/no file part/);
    expect(service.store.get(body.id)?.partId).toBe('no-file');
  });

  it('GET /v1/results pages as { results, next } and filters by verdict, part id and time', async () => {
    const all: string[] = [];
    let next: string | null = null;
    do {
      const page: { status: number; body: { results: Array<{ id: string }>; next: string | null } } = await getJson(
        `${service.url}/v1/results?limit=4${next ? `&next=${next}` : ''}`,
      );
      expect(page.status).toBe(200);
      all.push(...page.body.results.map((r) => r.id));
      next = page.body.next;
    } while (next);
    expect(all.length).toBe(service.store.count());
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort().reverse()).toEqual(all); // newest first

    const errors = await getJson(`${service.url}/v1/results?verdict=error&limit=1000`);
    expect(errors.body.results.length).toBe(service.store.countsByVerdict().error);
    expect(errors.body.results.every((r: { verdict: string }) => r.verdict === 'error')).toBe(true);
    const part = await getJson(`${service.url}/v1/results?partId=A1`);
    expect(part.body.results.map((r: { partId: string }) => r.partId)).toEqual(['A1']);
    const future = await getJson(`${service.url}/v1/results?from=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`);
    expect(future.body).toEqual({ results: [], next: null });
    const bad = await getJson(`${service.url}/v1/results?verdict=maybe`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/verdict must be one of ok, anomalous, error/);
  });

  it('CSV export: a header and one line per result', async () => {
    const response = await fetch(`${service.url}/v1/results.csv`);
    expect(response.headers.get('content-type')).toMatch(/text\/csv/);
    const lines = (await response.text()).trim().split('\n');
    expect(lines[0]).toMatch(/^id,captured_at,recorded_at,source/);
    expect(lines.length - 1).toBe(service.store.count());
  });

  it('probes, metrics and the event stream', async () => {
    expect((await getJson(`${service.url}/healthz`)).status).toBe(200);
    const ready = await getJson(`${service.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body.model.version).toBe(1);

    const controller = new AbortController();
    const stream = await fetch(`${service.url}/v1/events`, { signal: controller.signal });
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const reader = stream.body!.getReader();
    const posted = await postImage(service.url, samples[5].bytes, { query: '?partId=sse-1' });
    let text = '';
    while (!text.includes('sse-1')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(text).toContain('event: model');
    expect(text).toContain(`"id":"${posted.body.id as string}"`);

    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    const counts = service.store.countsByVerdict();
    expect(metrics).toContain(`residuum_line_images_total{verdict="ok"} ${counts.ok}`);
    expect(metrics).toContain(`residuum_line_images_total{verdict="error"} ${counts.error}`);
    expect(metrics).toMatch(/residuum_line_stage_seconds_bucket\{le="0.005",stage="inference"\}/);
    expect(metrics).toMatch(/residuum_line_model_info\{version="1",name="cae-64px-grey",sha256="[0-9a-f]{64}"\} 1/);
    expect(metrics).toContain('residuum_line_queue_depth 0');
    expect(metrics).toMatch(/residuum_line_errors_total\{reason="pixel_limit"\} 1/);
  });
});

describe('back-pressure and deadline', () => {
  it('a full queue answers 503 with Retry-After; every 200 is stored', async () => {
    const data = tempDir('queue');
    const service = await startTestService(data.dir, { watchDir: false, queueCapacity: 2, concurrency: 1, batchSize: 1, heatmaps: 'none' });
    try {
      const answers = await runClients(48, 24, (i) => postImage(service.url, samples[i % samples.length].bytes));
      const full = answers.filter((a) => a.status === 503);
      const ok = answers.filter((a) => a.status === 200);
      expect(full.length).toBeGreaterThan(0);
      expect(ok.length + full.length).toBe(48);
      expect(full[0].headers.get('retry-after')).toBe('1');
      expect(full[0].body.error).toMatch(/queue is full/);
      expect(service.store.count()).toBe(ok.length);
      for (const a of ok) expect(service.store.get(a.body.id as string)).not.toBeNull();
    } finally {
      await service.close();
      data.remove();
    }
  });

  it('an image past its deadline is an error verdict (504), recorded', async () => {
    const data = tempDir('deadline');
    const service = await startTestService(data.dir, { watchDir: false, deadlineMs: 1 });
    try {
      const { status, body } = await postImage(service.url, samples[0].bytes);
      expect(status).toBe(504);
      expect(body.verdict).toBe('error');
      expect(body.error).toMatch(/deadline exceeded/);
      expect(service.store.get(body.id as string)?.verdict).toBe('error');
    } finally {
      await service.close();
      data.remove();
    }
  });
});

describe('shutdown', () => {
  it('close() finishes with an event stream open, ends the stream, and answers what was in flight', async () => {
    const data = tempDir('shutdown');
    // The DFR (tens of ms per image), so that work is still in flight when close() is called.
    const service = await startTestService(data.dir, { watchDir: false, model: dfrModel });
    try {
      const stream = await fetch(`${service.url}/v1/events`);
      const reader = stream.body!.getReader();
      const sent = Array.from({ length: 6 }, (_, i) => postImage(service.url, samples[i].bytes).catch(() => ({ status: 0, body: {} })));
      await waitFor(() => service.pipeline.queueDepth + service.pipeline.inFlight > 0, 10_000, 'an image in flight');
      const acceptedAtClose = service.pipeline.queueDepth + service.pipeline.inFlight;
      const committedBefore = service.store.count();
      await service.close();
      const answers = await Promise.all(sent);
      // What was accepted is judged, committed and answered; a request still on its way is refused (503 or reset).
      const ok = answers.filter((a) => a.status === 200);
      expect(ok.length).toBeGreaterThanOrEqual(committedBefore + acceptedAtClose);
      expect(answers.every((a) => [200, 503, 0].includes(a.status))).toBe(true);
      let done = false;
      while (!done) done = (await reader.read()).done;
      expect(done).toBe(true);
    } finally {
      data.remove();
    }
  });
});

describe('model changes beyond localhost', () => {
  it('need the token (401 without it); without a configured token they are refused (403)', async () => {
    const data = tempDir('auth');
    // Bound to all interfaces (so the token rule applies); the test only talks to 127.0.0.1.
    const withToken = await startTestService(data.dir, { watchDir: false, host: '0.0.0.0', token: 's3cret' });
    const url = `http://127.0.0.1:${withToken.port}`;
    try {
      const bytes = new TextEncoder().encode('not a model');
      const noAuth = await getJson(`${url}/v1/models`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
      expect(noAuth.status).toBe(401);
      const authed = await getJson(`${url}/v1/models`, {
        method: 'POST',
        body: bytes,
        headers: { 'content-type': 'application/octet-stream', authorization: 'Bearer s3cret' },
      });
      expect(authed.status).toBe(422); // past the token; refused as a model
      expect(authed.body.active.version).toBe(1);
      expect((await postImage(url, samples[0].bytes)).status).toBe(200); // inspection needs no token
    } finally {
      await withToken.close();
    }
    const noToken = await startTestService(data.dir, { watchDir: false, host: '0.0.0.0' });
    try {
      const refused = await getJson(`http://127.0.0.1:${noToken.port}/v1/models/1/activate`, { method: 'POST' });
      expect(refused.status).toBe(403);
      expect(refused.body.error).toMatch(/without --token/);
    } finally {
      await noToken.close();
      data.remove();
    }
  });
});
