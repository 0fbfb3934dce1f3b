/**
 * The inspection dashboard: load a Residuum model (the default from the app's models/ folder,
 * or a dropped .onnx), show its card and the provider that runs it, inspect dropped images or
 * folders with the embeddable panel of @residuum/inspection-panel, and follow the session: score
 * histogram, threshold slider that re-judges every image live, ROC / AUROC when folder names
 * say which images are good.
 */
import { mountInspectionPanel, type InspectionPanel, type PanelEntry } from '@residuum/inspection-panel';
import { createWebInspector, type WebInspector, type WebProviderRequest } from '@residuum/runtime-web';
import { describeVerdictCounts, isAnomalous, type ProportionInterval } from '@residuum/scoring';
import { modelWithSessionThreshold, savedModelName, type LabelledScore } from './save-model.js';
import { renderHistogram, renderRoc } from './charts.js';
import { rocFromEntries } from './roc.js';
import { describeCard, type ModelIndex } from './card-view.js';
import './style.css';

const params = new URLSearchParams(location.search);
const requestedProvider = (params.get('provider') ?? 'auto') as WebProviderRequest;
const wasmPaths = new URL('ort/', document.baseURI).href;
// ?threads=N: WASM threads (default: one per logical core, at most 4, when cross-origin isolated).
const threadsParam = Number(params.get('threads') ?? NaN);
const numThreads = Number.isInteger(threadsParam) && threadsParam > 0 ? threadsParam : undefined;

const app = document.getElementById('app')!;
app.innerHTML = `
<header>
  <h1>Residuum <span>inspection</span></h1>
  <label>Model <select data-role="model-select"></select></label>
  <label class="button">Open .onnx<input type="file" accept=".onnx" data-role="model-file" hidden></label>
  <label>Provider <select data-role="provider-select">
    <option value="auto">auto (WebGPU, else WASM)</option><option value="webgpu">WebGPU</option><option value="wasm">WASM</option>
  </select></label>
</header>
<div class="error" data-role="model-error" hidden></div>
<main>
  <section class="card" data-role="card"><p>Loading model…</p></section>
  <section class="session">
    <h2>Session</h2>
    <div class="threshold">
      <label for="threshold">Threshold</label>
      <input id="threshold" type="range" data-role="threshold-slider" min="0" max="1" step="0.001">
      <output data-role="threshold-value"></output>
      <button type="button" data-role="threshold-reset">card value</button>
      <button type="button" data-role="save-model" title="download the model with this threshold in its card">save model with this threshold</button>
    </div>
    <p data-role="rates" hidden></p>
    <p data-role="summary">No images yet.</p>
    <p><button type="button" data-role="load-samples">Load sample images</button>
       <button type="button" data-role="clear">Clear</button></p>
    <svg class="histogram" data-role="histogram" role="img" aria-label="score histogram"></svg>
  </section>
  <section class="roc">
    <h2>ROC</h2>
    <svg data-role="roc" role="img" aria-label="ROC curve" hidden></svg>
    <p data-role="roc-note">Needs images in folders named good/ok (e.g. ok_front, test/good) and defect folders (e.g. def_front, test/crack).</p>
  </section>
</main>
<section class="images" data-role="panel-host"></section>
`;

const $ = <T extends Element>(role: string): T => app.querySelector<T>(`[data-role="${role}"]`)!;
const modelSelect = $<HTMLSelectElement>('model-select');
const providerSelect = $<HTMLSelectElement>('provider-select');
const modelError = $<HTMLDivElement>('model-error');
const cardView = $<HTMLElement>('card');
const slider = $<HTMLInputElement>('threshold-slider');
const thresholdValue = $<HTMLOutputElement>('threshold-value');
const summary = $<HTMLParagraphElement>('summary');
const histogram = $<SVGSVGElement>('histogram');
const rocSvg = $<SVGSVGElement>('roc');
const rocNote = $<HTMLParagraphElement>('roc-note');
const panelHost = $<HTMLElement>('panel-host');
const rates = $<HTMLParagraphElement>('rates');
const saveButton = $<HTMLButtonElement>('save-model');
providerSelect.value = ['auto', 'webgpu', 'wasm'].includes(requestedProvider) ? requestedProvider : 'auto';

let inspector: WebInspector | undefined;
let panel: InspectionPanel | undefined;
let modelIndex: ModelIndex = { default: '', models: [], samples: [] };
let modelLabel = '';
let modelSource: string | File | undefined;
let aurocValue: number | undefined;

function showModelError(message: string | undefined): void {
  modelError.hidden = message === undefined;
  modelError.textContent = message ? `Could not load the model: ${message}` : '';
}

/**
 * Opens a model. The working model and its results stay until the new one has loaded and
 * warmed up: a bad file only shows its error (and says which model is still in use).
 */
async function loadModel(source: string | File, label: string): Promise<void> {
  showModelError(undefined);
  const previousCard = [...cardView.childNodes];
  cardView.innerHTML = `<p>Loading ${escapeHtml(label)}…</p>`;
  let loaded: WebInspector | undefined;
  try {
    loaded = await createWebInspector(source, {
      provider: providerSelect.value as WebProviderRequest,
      wasmPaths,
      ...(numThreads !== undefined ? { numThreads } : {}),
    });
    await loaded.warmup();
  } catch (error) {
    await loaded?.dispose().catch(() => undefined);
    const message = error instanceof Error ? error.message : String(error);
    showModelError(inspector ? `${message} (still using ${modelLabel}; its results are kept)` : message);
    if (inspector) {
      cardView.replaceChildren(...previousCard);
      showInSelect(modelLabel);
    } else {
      cardView.innerHTML = '<p>No model loaded.</p>';
    }
    update();
    return;
  }
  const previous = inspector;
  panel?.destroy();
  panel = undefined;
  await previous?.dispose();
  inspector = loaded;
  modelLabel = label;
  modelSource = source;
  showInSelect(label);
  cardView.replaceChildren(describeCard(inspector, label, modelIndex));
  panel = mountInspectionPanel(panelHost, inspector);
  panel.onChange(update);
  setSliderRange();
  update();
}

function scores(): number[] {
  return (panel?.entries ?? []).flatMap((entry) => (entry.result.ok ? [entry.result.score] : []));
}

function setSliderRange(): void {
  if (!inspector || !panel) return;
  const cardThreshold = inspector.card.threshold.value;
  const max = Math.max(2 * cardThreshold, 1.1 * Math.max(0, ...scores()), inspector.card.calibration.max, 1e-9);
  slider.max = String(max);
  slider.step = String(max / 1000);
  slider.value = String(panel.threshold);
}

function update(): void {
  const entries = panel?.entries ?? [];
  const threshold = panel?.threshold ?? 0;
  thresholdValue.textContent = panel ? threshold.toPrecision(4) : '';
  const ok = entries.filter((entry) => entry.result.ok);
  const anomalous = ok.filter((entry) => entry.result.ok && isAnomalous(entry.result.score, threshold)).length;
  const failed = entries.length - ok.length;
  const latencies = ok.map((entry) => (entry.result.ok ? entry.result.timings.totalMs : 0)).sort((a, b) => a - b);
  const median = latencies.length > 0 ? latencies[Math.floor(latencies.length / 2)] : 0;
  summary.textContent = entries.length === 0
    ? 'No images yet.'
    : `${entries.length} image(s): ${anomalous} anomalous, ${ok.length - anomalous} OK` +
      (failed > 0 ? `, ${failed} unreadable` : '') +
      ` · median latency ${median.toFixed(1)} ms per image on ${inspector?.provider ?? '?'}`;
  summary.dataset.anomalous = String(anomalous);
  summary.dataset.failed = String(failed);
  if (panel && Number(slider.max) < Math.max(0, ...scores())) setSliderRange();
  const values = scores();
  const max = Number(slider.max) || 1;
  renderHistogram(histogram, {
    scores: ok.map((entry) => ({ score: entry.result.ok ? entry.result.score : 0, ...(entry.truth ? { truth: entry.truth } : {}) })),
    threshold,
    min: 0,
    max: Math.max(max, ...values),
  });
  const roc = rocFromEntries(entries, threshold);
  aurocValue = roc?.auroc;
  rocSvg.toggleAttribute('hidden', roc === undefined);
  rocNote.hidden = roc !== undefined;
  if (roc) renderRoc(rocSvg, roc.points, roc.operatingPoint, roc.auroc);
  // Live recall / false-alarm rate when folder names say which images are good and defective.
  rates.hidden = roc === undefined;
  if (roc) {
    const interval = (i: ProportionInterval | undefined) => (i ? `${(100 * i.lower).toFixed(1)}-${(100 * i.upper).toFixed(1)} %` : '-');
    rates.textContent =
      `${describeVerdictCounts(roc.counts, 'at this threshold')}; 95 % intervals (Clopper-Pearson): ` +
      `recall ${interval(roc.counts.recall)}, false alarms ${interval(roc.counts.falseAlarmRate)}`;
    rates.dataset.recall = String(roc.counts.recall?.estimate ?? '');
    rates.dataset.falseAlarmRate = String(roc.counts.falseAlarmRate?.estimate ?? '');
  }
  saveButton.disabled = !panel;
  rocSvg.dataset.auroc = roc ? String(roc.auroc) : '';
}

slider.addEventListener('input', () => panel?.setThreshold(Number(slider.value)));
$<HTMLButtonElement>('threshold-reset').addEventListener('click', () => {
  if (!panel || !inspector) return;
  panel.setThreshold(inspector.card.threshold.value);
  slider.value = String(panel.threshold);
});
/** The session's scores; labelled images with their path and bytes, so the saved card fingerprints each set. */
async function sessionScores(entries: readonly PanelEntry[]): Promise<LabelledScore[]> {
  const session: LabelledScore[] = [];
  for (const entry of entries) {
    if (!entry.result.ok) continue;
    const score = entry.result.score;
    if (!entry.truth) session.push({ score });
    else session.push({ score, truth: entry.truth, file: { path: entry.source, bytes: new Uint8Array(await entry.file.arrayBuffer()) } });
  }
  return session;
}

async function saveModel(): Promise<void> {
  if (!inspector || !panel || modelSource === undefined) return;
  const bytes = typeof modelSource === 'string' ? new Uint8Array(await (await fetch(modelSource)).arrayBuffer()) : new Uint8Array(await modelSource.arrayBuffer());
  const session = await sessionScores(panel.entries);
  const out = await modelWithSessionThreshold(bytes, inspector.card, panel.threshold, session, 'residuum dashboard');
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([out as BlobPart], { type: 'application/octet-stream' }));
  link.download = savedModelName(modelLabel, panel.threshold);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

saveButton.addEventListener('click', () => {
  saveModel().catch((error: unknown) => showModelError(`saving failed: ${error instanceof Error ? error.message : String(error)}`));
});
$<HTMLButtonElement>('clear').addEventListener('click', () => panel?.clear());
$<HTMLButtonElement>('load-samples').addEventListener('click', () => void loadSamples());
modelSelect.addEventListener('change', () => {
  if (modelIndex.models.includes(modelSelect.value)) void loadModel(`models/${modelSelect.value}`, modelSelect.value);
});
providerSelect.addEventListener('change', () => {
  const url = new URL(location.href);
  url.searchParams.set('provider', providerSelect.value);
  history.replaceState(null, '', url);
  // onnxruntime-web initialises its backends once per page: a provider change reloads the model.
  if (modelSource !== undefined) void loadModel(modelSource, modelLabel);
});
$<HTMLInputElement>('model-file').addEventListener('change', (event) => {
  const input = event.target as HTMLInputElement;
  const file = input.files?.[0];
  input.value = '';
  if (file) void loadModel(file, file.name);
});
// A .onnx dropped anywhere on the page replaces the model; captured before the panel's drop
// zone sees it (which would try it as an image). Image drops go on to the panel.
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener(
  'drop',
  (event) => {
    const file = [...(event.dataTransfer?.files ?? [])].find((f) => f.name.toLowerCase().endsWith('.onnx'));
    event.preventDefault();
    if (file) {
      event.stopPropagation();
      void loadModel(file, file.name);
    }
  },
  true,
);

/** The model select shows the model in use; a dropped or URL-given model gets its own entry. */
function showInSelect(label: string): void {
  for (const option of [...modelSelect.options]) if (option.dataset.custom !== undefined && option.value !== label) option.remove();
  if (![...modelSelect.options].some((option) => option.value === label)) {
    const option = new Option(label, label);
    option.dataset.custom = '';
    modelSelect.add(option);
  }
  modelSelect.value = label;
}

async function inspectUrls(urls: readonly string[], paths?: readonly string[]): Promise<void> {
  if (!panel) throw new Error('no model loaded');
  const files: File[] = [];
  const names: string[] = [];
  for (let i = 0; i < urls.length; i++) {
    const path = paths?.[i] ?? urls[i];
    const name = path.split('/').pop() ?? path;
    try {
      const response = await fetch(urls[i]);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const blob = await response.blob();
      files.push(new File([blob], name, { type: blob.type }));
    } catch (error) {
      // Still a row: the panel reports it as unreadable.
      files.push(new File([`could not fetch ${urls[i]}: ${String(error)}`], name));
    }
    names.push(path);
  }
  await panel.inspectFiles(files, names);
}

async function fetchFiles(urls: readonly string[]): Promise<File[]> {
  return Promise.all(
    urls.map(async (url) => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      const blob = await response.blob();
      return new File([blob], url.split('/').pop() ?? url, { type: blob.type });
    }),
  );
}

/**
 * The inspector alone, one image per call with maps (as the panel asks), nothing added to the
 * page: latency without the table's rendering (which the panel's rows include, since an image
 * decodes while the browser paints the previous row). For the benchmark against runtime-node.
 */
type InspectionResult = Awaited<ReturnType<WebInspector['inspect']>>[number];
type InspectionTimings = Extract<InspectionResult, { ok: true }>['timings'];
async function timeInspect(urls: readonly string[]): Promise<Array<{ source: string; ok: boolean; error?: string; timings?: InspectionTimings }>> {
  if (!inspector) throw new Error('no model loaded');
  const files = await fetchFiles(urls);
  const out = [];
  for (const file of files) {
    const [result] = await inspector.inspect([file], { returnMaps: true });
    out.push(result.ok ? { source: result.source, ok: true, timings: result.timings } : { source: result.source, ok: false, error: result.error });
  }
  return out;
}

async function loadSamples(): Promise<void> {
  await inspectUrls(modelIndex.samples.map((sample) => `samples/${sample}`), modelIndex.samples);
}

/** Test and automation hook: read what the page shows, drive it without the mouse. */
const hook = {
  ready: Promise.resolve(),
  state() {
    return {
      model: modelLabel,
      modelError: modelError.hidden ? undefined : modelError.textContent,
      provider: inspector?.provider,
      attempts: inspector?.attempts ?? [],
      adapter: inspector?.adapter,
      wasmThreads: inspector?.wasmThreads,
      crossOriginIsolated: globalThis.crossOriginIsolated,
      card: inspector?.card,
      threshold: panel?.threshold,
      auroc: aurocValue,
      entries: (panel?.entries ?? []).map((entry) => ({
        source: entry.source,
        truth: entry.truth,
        ok: entry.result.ok,
        score: entry.result.ok ? entry.result.score : undefined,
        verdict: entry.result.ok ? (isAnomalous(entry.result.score, panel?.threshold ?? Infinity) ? 'anomalous' : 'normal') : 'error',
        latencyMs: entry.result.ok ? entry.result.timings.totalMs : undefined,
        preprocessMs: entry.result.ok ? entry.result.timings.preprocessMs : undefined,
        inferenceMs: entry.result.ok ? entry.result.timings.inferenceMs : undefined,
        scoringMs: entry.result.ok ? entry.result.timings.scoringMs : undefined,
        error: entry.result.ok ? undefined : entry.result.error,
      })),
    };
  },
  inspectUrls,
  timeInspect,
  loadSamples,
  loadModel: (url: string) => loadModel(url, url),
  setThreshold: (value: number) => {
    panel?.setThreshold(value);
    slider.value = String(value);
  },
  clear: () => panel?.clear(),
};
(window as unknown as { __residuum: typeof hook }).__residuum = hook;

hook.ready = (async () => {
  try {
    const response = await fetch('models/index.json');
    if (!response.ok) throw new Error(`models/index.json: HTTP ${response.status}`);
    modelIndex = (await response.json()) as ModelIndex;
  } catch (error) {
    showModelError(`the app's model list could not be read (${String(error)}); open a .onnx file instead`);
    cardView.innerHTML = '<p>No model loaded.</p>';
    return;
  }
  for (const name of modelIndex.models) modelSelect.add(new Option(name, name, name === modelIndex.default, name === modelIndex.default));
  const requestedModel = params.get('model');
  await loadModel(requestedModel ?? `models/${modelIndex.default}`, requestedModel ?? modelIndex.default);
})();

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
