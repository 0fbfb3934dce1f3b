/**
 * The dashboard's line mode: follows a running line service (`residuum serve`) at
 * `line.html?service=http://host:8080`. Live feed of parts with their heatmaps (Server-Sent
 * Events from /v1/events), defect rate over time, the last anomalies, the model in use and its
 * threshold. Read-only: it uses the service's GET endpoints and its event stream.
 */
import './style.css';

/** A result as the line service answers it (apps/line-service/src/result-format.ts, ApiResult). */
interface LineResult {
  id: string;
  verdict: 'ok' | 'anomalous' | 'error';
  score: number | null;
  threshold: number | null;
  model: { version: number; name: string | null; sha256: string | null } | null;
  partId: string | null;
  station: string | null;
  camera: string | null;
  sourceName: string | null;
  capturedAt: string;
  recordedAt: string;
  error: string | null;
  heatmap: string | null;
  image: string | null;
}

interface LineModel {
  version: number;
  name: string;
  family: string;
  sha256: string;
  threshold: number;
  provider: string;
}

const FEED_SIZE = 24;
const ANOMALY_LIST = 10;
const RATE_BUCKET_MS = 60_000;
const RATE_BUCKETS = 60;
const SVG = 'http://www.w3.org/2000/svg';

const params = new URLSearchParams(location.search);
const app = document.getElementById('app')!;
app.innerHTML = `
<header>
  <h1>Residuum <span>line</span></h1>
  <form data-role="connect"><label>Service <input data-role="service-url" size="32" placeholder="http://127.0.0.1:8080"></label>
  <button type="submit">Connect</button></form>
  <span data-role="connection">not connected</span>
</header>
<div class="error" data-role="line-error" hidden></div>
<main class="line">
  <section>
    <h2>Model</h2>
    <dl data-role="line-model"><dt>model</dt><dd>–</dd></dl>
    <h2>Counts</h2>
    <dl><dt>ok</dt><dd data-role="count-ok">0</dd><dt>anomalous</dt><dd data-role="count-anomalous">0</dd><dt>error</dt><dd data-role="count-error">0</dd></dl>
    <h2>Defect rate per minute</h2>
    <svg class="rate" data-role="defect-rate" viewBox="0 0 360 140" width="360" height="140"></svg>
  </section>
  <section>
    <h2>Live feed</h2>
    <div class="feed" data-role="feed"></div>
  </section>
  <section>
    <h2>Last anomalies</h2>
    <ol class="anomalies" data-role="anomalies"></ol>
  </section>
</main>`;

const $ = <T extends Element>(role: string) => app.querySelector<T>(`[data-role="${role}"]`)!;
const urlInput = $<HTMLInputElement>('service-url');
const errorBox = $<HTMLDivElement>('line-error');

let source: EventSource | null = null;
let service = '';
const seen = new Set<string>();
const feed: LineResult[] = [];
const anomalies: LineResult[] = [];
const counts = { ok: 0, anomalous: 0, error: 0 };
/** Per minute: [bucket start ms, parts, anomalous]. */
const rate = new Map<number, { parts: number; anomalous: number }>();

function showError(message: string | null): void {
  errorBox.hidden = message === null;
  errorBox.textContent = message ?? '';
}

function text(tag: string, content: string, attributes: Record<string, string> = {}): HTMLElement {
  const element = document.createElement(tag);
  element.textContent = content;
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  return element;
}

function formatScore(value: number | null): string {
  return value === null ? '–' : value.toPrecision(4);
}

function showModel(model: LineModel | null): void {
  const list = $<HTMLDListElement>('line-model');
  list.replaceChildren();
  if (!model) {
    list.append(text('dt', 'model'), text('dd', 'none active'));
    return;
  }
  const rows: Array<[string, string, string]> = [
    ['model', `${model.name} (${model.family})`, 'model-name'],
    ['version', String(model.version), 'model-version'],
    ['threshold', formatScore(model.threshold), 'model-threshold'],
    ['provider', model.provider, 'model-provider'],
    ['sha256', model.sha256.slice(0, 16) + '…', 'model-sha'],
  ];
  for (const [label, value, role] of rows) list.append(text('dt', label), text('dd', value, { 'data-role': role }));
}

function card(result: LineResult): HTMLElement {
  const figure = document.createElement('figure');
  figure.className = `part ${result.verdict}`;
  figure.dataset.id = result.id;
  figure.dataset.verdict = result.verdict;
  if (result.heatmap) {
    const img = document.createElement('img');
    img.src = service + result.heatmap;
    img.alt = `heatmap of ${result.partId ?? result.id}`;
    img.width = 96;
    img.height = 96;
    figure.append(img);
  }
  const caption = document.createElement('figcaption');
  caption.append(
    text('strong', result.verdict.toUpperCase()),
    text('span', ` ${formatScore(result.score)} `),
    text('span', result.partId ?? result.sourceName ?? result.id.slice(-6), { class: 'part-id' }),
    text('time', new Date(result.capturedAt).toLocaleTimeString()),
  );
  if (result.error) caption.append(text('div', result.error, { class: 'reason' }));
  figure.append(caption);
  return figure;
}

function add(result: LineResult, live: boolean): void {
  if (seen.has(result.id)) return;
  seen.add(result.id);
  counts[result.verdict] += 1;
  const bucket = Math.floor(Date.parse(result.capturedAt) / RATE_BUCKET_MS) * RATE_BUCKET_MS;
  const entry = rate.get(bucket) ?? { parts: 0, anomalous: 0 };
  entry.parts += 1;
  if (result.verdict === 'anomalous') entry.anomalous += 1;
  rate.set(bucket, entry);
  insertSorted(feed, result, FEED_SIZE);
  if (result.verdict === 'anomalous') insertSorted(anomalies, result, ANOMALY_LIST);
  if (live) render();
}

/** Newest first by id (ULIDs sort by time), bounded. */
function insertSorted(list: LineResult[], result: LineResult, limit: number): void {
  list.push(result);
  list.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  list.length = Math.min(list.length, limit);
}

function render(): void {
  for (const verdict of ['ok', 'anomalous', 'error'] as const) $(`count-${verdict}`).textContent = String(counts[verdict]);
  $('feed').replaceChildren(...feed.map(card));
  $('anomalies').replaceChildren(
    ...anomalies.map((r) => {
      const item = text('li', `${r.partId ?? r.sourceName ?? r.id} · ${formatScore(r.score)} · ${new Date(r.capturedAt).toLocaleTimeString()}`);
      item.dataset.id = r.id;
      return item;
    }),
  );
  renderRate();
}

function renderRate(): void {
  const svg = $<SVGSVGElement>('defect-rate');
  svg.replaceChildren();
  const buckets = [...rate.entries()].sort((a, b) => a[0] - b[0]).slice(-RATE_BUCKETS);
  const width = 360;
  const height = 140;
  const pad = { left: 34, right: 8, top: 8, bottom: 20 };
  const plotWidth = width - pad.left - pad.right;
  const plotHeight = height - pad.top - pad.bottom;
  const maxRate = Math.max(0.05, ...buckets.map(([, b]) => b.anomalous / b.parts));
  const axis = document.createElementNS(SVG, 'path');
  axis.setAttribute('d', `M${pad.left} ${pad.top} V${pad.top + plotHeight} H${width - pad.right}`);
  axis.setAttribute('stroke', '#8a94a6');
  axis.setAttribute('fill', 'none');
  svg.append(axis);
  const label = document.createElementNS(SVG, 'text');
  label.setAttribute('x', '2');
  label.setAttribute('y', String(pad.top + 8));
  label.setAttribute('font-size', '10');
  label.textContent = `${(maxRate * 100).toFixed(0)} %`;
  svg.append(label);
  if (buckets.length === 0) return;
  const x = (i: number) => pad.left + (buckets.length === 1 ? plotWidth / 2 : (i / (buckets.length - 1)) * plotWidth);
  const y = (value: number) => pad.top + plotHeight - (value / maxRate) * plotHeight;
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', buckets.map(([, b], i) => `${x(i).toFixed(1)},${y(b.anomalous / b.parts).toFixed(1)}`).join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#d6453d');
  line.setAttribute('stroke-width', '2');
  line.dataset.role = 'defect-rate-line';
  line.dataset.buckets = String(buckets.length);
  svg.append(line);
  buckets.forEach(([start, b], i) => {
    const dot = document.createElementNS(SVG, 'circle');
    dot.setAttribute('cx', x(i).toFixed(1));
    dot.setAttribute('cy', y(b.anomalous / b.parts).toFixed(1));
    dot.setAttribute('r', '3');
    dot.setAttribute('fill', '#d6453d');
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${new Date(start).toLocaleTimeString()}: ${b.anomalous} of ${b.parts} anomalous`;
    dot.append(title);
    svg.append(dot);
  });
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(service + path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

async function connect(url: string): Promise<void> {
  source?.close();
  service = url.replace(/\/+$/, '');
  seen.clear();
  feed.length = 0;
  anomalies.length = 0;
  rate.clear();
  Object.assign(counts, { ok: 0, anomalous: 0, error: 0 });
  localStorage.setItem('residuum-line-service', service);
  const status = $('connection');
  status.textContent = 'connecting…';
  showError(null);
  try {
    const models = await getJson<{ active: LineModel | null }>('/v1/models');
    showModel(models.active);
    // The recent past: the last 500 results, and the last anomalies even if older.
    const [recent, lastAnomalies] = await Promise.all([
      getJson<{ results: LineResult[] }>('/v1/results?limit=500'),
      getJson<{ results: LineResult[] }>(`/v1/results?verdict=anomalous&limit=${ANOMALY_LIST}`),
    ]);
    for (const result of [...recent.results].reverse()) add(result, false);
    for (const result of lastAnomalies.results) if (!seen.has(result.id)) insertSorted(anomalies, result, ANOMALY_LIST);
    render();
  } catch (error) {
    status.textContent = 'not connected';
    showError(`cannot reach the line service at ${service}: ${(error as Error).message}`);
    return;
  }
  source = new EventSource(`${service}/v1/events`);
  source.addEventListener('open', () => (status.textContent = `live: ${service}`));
  source.addEventListener('error', () => (status.textContent = `reconnecting to ${service}…`));
  source.addEventListener('result', (event) => add(JSON.parse((event as MessageEvent<string>).data) as LineResult, true));
  source.addEventListener('model', (event) => showModel(JSON.parse((event as MessageEvent<string>).data) as LineModel | null));
}

$<HTMLFormElement>('connect').addEventListener('submit', (event) => {
  event.preventDefault();
  if (urlInput.value.trim()) void connect(urlInput.value.trim());
});
const initial = params.get('service') ?? localStorage.getItem('residuum-line-service');
if (initial) {
  urlInput.value = initial;
  void connect(initial);
}
