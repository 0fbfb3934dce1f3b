/**
 * mountInspectionPanel: the embeddable scorer. A drop zone / file picker and one row per
 * image (model input, reconstruction, heatmap overlay, score against the threshold, verdict,
 * latency), sortable, with a threshold that re-judges every row live. Plain DOM, no framework;
 * rows carry data-source, data-score, data-verdict and data-truth attributes for scripts and tests.
 */
import type { InspectionResult, Inspector, InspectOptions } from '@residuum/inspection';
import { isAnomalous, resolveThreshold } from '@residuum/scoring';
import { groundTruthFromPath, type GroundTruth } from './labels.js';
import { heatmapOverlayRgba, mapMaximum, mapToRgba, modelImageToRgba, type RgbaPixels } from './render.js';

export interface InspectionPanelOptions {
  /** Initial threshold; default the model card's. */
  threshold?: number;
  /** MC-Dropout passes per image (models with dropout only). */
  mcSamples?: number;
  /** Displayed size of the image tiles in CSS pixels (default 96). */
  tileSize?: number;
  /** Show the drop zone and file/folder pickers (default true). */
  showPicker?: boolean;
}

export interface PanelEntry {
  /** File path (relative path for folders) or name. */
  source: string;
  /** The inspected file (for content fingerprints of the session's image sets). */
  file: File;
  /** From the folder names (good/ok vs other), when they say it. */
  truth?: GroundTruth;
  result: InspectionResult;
}

export type PanelSortKey = 'source' | 'score' | 'verdict' | 'latency';

export interface InspectionPanel {
  readonly element: HTMLElement;
  readonly entries: readonly PanelEntry[];
  readonly threshold: number;
  /** Re-judges every row against a new threshold (no re-inference). */
  setThreshold(value: number): void;
  /** Inspects files (paths: relative paths when known, e.g. from a folder drop) and adds their rows. */
  inspectFiles(files: readonly File[], paths?: readonly string[]): Promise<PanelEntry[]>;
  sortBy(key: PanelSortKey, descending?: boolean): void;
  clear(): void;
  /** Called after rows are added, re-judged, sorted or cleared. Returns an unsubscribe function. */
  onChange(listener: (panel: InspectionPanel) => void): () => void;
  destroy(): void;
}

const STYLE_ID = 'residuum-panel-style';
const STYLE = `
.rsd-panel{font:14px system-ui,sans-serif;color:#1d2330}
.rsd-drop{border:2px dashed #8a94a6;border-radius:8px;padding:14px;text-align:center;margin-bottom:10px;background:#f6f8fb}
.rsd-drop.rsd-over{background:#e3ecff;border-color:#3767d6}
.rsd-drop label{margin:0 6px;color:#3767d6;cursor:pointer;text-decoration:underline}
.rsd-drop input{display:none}
.rsd-table{border-collapse:collapse;width:100%}
.rsd-table th{text-align:left;cursor:pointer;user-select:none;border-bottom:2px solid #ccd3df;padding:4px 6px;white-space:nowrap}
.rsd-table td{border-bottom:1px solid #e3e7ee;padding:4px 6px;vertical-align:middle}
.rsd-table canvas{image-rendering:pixelated;border-radius:3px;background:#000;display:block}
.rsd-verdict{font-weight:600;padding:2px 8px;border-radius:10px;white-space:nowrap}
.rsd-anomalous{background:#fde2e1;color:#b3261e}.rsd-normal{background:#ddf4e4;color:#17693a}.rsd-error{background:#fff1cc;color:#8a5a00}
.rsd-bar{height:6px;background:#e3e7ee;border-radius:3px;position:relative;width:120px;margin-top:4px}
.rsd-bar span{position:absolute;top:0;left:0;height:6px;border-radius:3px}
.rsd-bar i{position:absolute;top:-3px;width:2px;height:12px;background:#1d2330;left:50%}
.rsd-status{margin:6px 0;color:#5a6478;min-height:1.2em}
.rsd-none{color:#8a94a6;font-style:italic}
`;

export function mountInspectionPanel(
  element: HTMLElement,
  inspector: Inspector<File | Blob>,
  options: InspectionPanelOptions = {},
): InspectionPanel {
  if (!(element instanceof HTMLElement)) throw new TypeError('mountInspectionPanel: element must be an HTMLElement');
  if (!inspector || typeof inspector.inspect !== 'function') {
    throw new TypeError('mountInspectionPanel: inspector must be an Inspector (from createWebInspector)');
  }
  let threshold = resolveThreshold(inspector.card, options.threshold);
  const tileSize = options.tileSize ?? 96;
  const entries: PanelEntry[] = [];
  const rows = new Map<PanelEntry, HTMLTableRowElement>();
  const listeners = new Set<(panel: InspectionPanel) => void>();
  let sortKey: PanelSortKey | undefined;
  let sortDescending = true;

  if (!document.getElementById(STYLE_ID)) {
    const style = document.createElement('style');
    style.id = STYLE_ID;
    style.textContent = STYLE;
    document.head.append(style);
  }
  const root = document.createElement('div');
  root.className = 'rsd-panel';
  const status = document.createElement('div');
  status.className = 'rsd-status';
  status.setAttribute('role', 'status');
  const table = document.createElement('table');
  table.className = 'rsd-table';
  const head = table.createTHead().insertRow();
  const columns: Array<[string, PanelSortKey | undefined]> = [
    ['Image', 'source'],
    ['Input', undefined],
    ['Reconstruction', undefined],
    ['Heatmap', undefined],
    ['Score', 'score'],
    ['Verdict', 'verdict'],
    ['Latency', 'latency'],
  ];
  for (const [title, key] of columns) {
    const th = document.createElement('th');
    th.textContent = title;
    if (key) {
      th.dataset.sort = key;
      th.title = `sort by ${title.toLowerCase()}`;
      th.addEventListener('click', () => panel.sortBy(key, sortKey === key ? !sortDescending : key !== 'source'));
    }
    head.append(th);
  }
  const body = table.createTBody();

  if (options.showPicker !== false) root.append(createDropZone((files, paths) => void panel.inspectFiles(files, paths)));
  root.append(status, table);
  element.append(root);

  function notify(): void {
    for (const listener of listeners) listener(panel);
  }

  function judge(entry: PanelEntry, row: HTMLTableRowElement): void {
    const verdictCell = row.cells[5];
    const scoreCell = row.cells[4];
    const result = entry.result;
    if (!result.ok) {
      row.dataset.verdict = 'error';
      return;
    }
    const anomalous = isAnomalous(result.score, threshold);
    row.dataset.verdict = anomalous ? 'anomalous' : 'normal';
    row.dataset.threshold = String(threshold);
    verdictCell.replaceChildren(badge(anomalous ? 'anomalous' : 'normal', anomalous ? 'ANOMALOUS' : 'OK'));
    scoreCell.replaceChildren(scoreView(result.score, threshold));
  }

  function addRow(entry: PanelEntry): HTMLTableRowElement {
    const row = body.insertRow();
    row.dataset.source = entry.source;
    if (entry.truth) row.dataset.truth = entry.truth;
    const name = row.insertCell();
    name.textContent = entry.source;
    name.title = entry.source + (entry.truth ? ` (ground truth from folder: ${entry.truth})` : '');
    const cells = [row.insertCell(), row.insertCell(), row.insertCell(), row.insertCell(), row.insertCell(), row.insertCell()];
    const result = entry.result;
    if (!result.ok) {
      cells[0].colSpan = 4;
      cells[0].className = 'rsd-error-text';
      cells[0].textContent = result.error;
      for (const cell of cells.slice(1, 4)) cell.remove();
      row.cells[2].replaceChildren(badge('error', 'ERROR'));
      row.cells[3].textContent = '';
      row.dataset.verdict = 'error';
      row.dataset.error = result.error;
      return row;
    }
    row.dataset.score = String(result.score);
    row.dataset.latencyMs = result.timings.totalMs.toFixed(2);
    const prep = inspector.card.preprocessing;
    if (result.input) cells[0].append(pixelsToCanvas(modelImageToRgba(result.input, prep), tileSize));
    if (result.reconstruction) cells[1].append(pixelsToCanvas(modelImageToRgba(result.reconstruction, prep), tileSize));
    else if (!inspector.card.outputs.some((output) => output.meaning === 'reconstruction')) cells[1].append(noReconstruction(inspector.card.family));
    if (result.input && result.map) {
      const scaleMax = inspector.card.calibration.pixelThreshold ?? mapMaximum(result.map);
      const overlay = pixelsToCanvas(heatmapOverlayRgba(result.input, result.map, prep, scaleMax), tileSize);
      overlay.title = `anomaly map over the input (yellow = ${formatNumber(scaleMax)})`;
      cells[2].append(overlay);
    }
    if (result.uncertainty) {
      // MC-Dropout: where the stochastic passes disagree.
      const uncertaintyMax = mapMaximum(result.uncertainty);
      const tile = pixelsToCanvas(mapToRgba(result.uncertainty, uncertaintyMax), Math.round(tileSize / 2));
      tile.dataset.role = 'uncertainty';
      tile.title = `MC-Dropout uncertainty: per-pixel variance of the reconstructions (yellow = ${formatNumber(uncertaintyMax)})`;
      tile.style.marginTop = '4px';
      cells[2].append(tile);
    }
    cells[5].textContent = `${result.timings.totalMs.toFixed(1)} ms`;
    cells[5].title = `preprocess ${result.timings.preprocessMs.toFixed(1)} ms, inference ${result.timings.inferenceMs.toFixed(1)} ms, scoring ${result.timings.scoringMs.toFixed(1)} ms on ${result.provider}`;
    judge(entry, row);
    return row;
  }

  const panel: InspectionPanel = {
    element: root,
    get entries() {
      return entries;
    },
    get threshold() {
      return threshold;
    },
    setThreshold(value: number) {
      threshold = resolveThreshold(inspector.card, value);
      for (const [entry, row] of rows) judge(entry, row);
      notify();
    },
    async inspectFiles(files, paths) {
      if (paths && paths.length !== files.length) {
        throw new RangeError(`inspectFiles: ${files.length} files but ${paths.length} paths`);
      }
      status.textContent = `Inspecting ${files.length} image(s)…`;
      const inspectOptions: InspectOptions = { returnMaps: true };
      if (options.mcSamples !== undefined) inspectOptions.mcSamples = options.mcSamples;
      const added: PanelEntry[] = [];
      // One image per call: rows appear as they finish, and each latency is one image's.
      for (let i = 0; i < files.length; i++) {
        const source = paths?.[i] || relativePath(files[i]);
        let result: InspectionResult;
        try {
          [result] = await inspector.inspect([files[i]], inspectOptions);
        } catch (error) {
          result = { ok: false, source, error: error instanceof Error ? error.message : String(error) };
        }
        const truth = groundTruthFromPath(source);
        const entry: PanelEntry = { source, file: files[i], result: { ...result, source }, ...(truth ? { truth } : {}) };
        entries.push(entry);
        rows.set(entry, addRow(entry));
        added.push(entry);
        status.textContent = `Inspected ${i + 1} / ${files.length}`;
      }
      const failed = added.filter((entry) => !entry.result.ok).length;
      status.textContent = `${entries.length} image(s) inspected` + (failed > 0 ? `, ${failed} could not be read in the last batch` : '');
      if (sortKey) panel.sortBy(sortKey, sortDescending);
      else notify();
      return added;
    },
    sortBy(key, descending = true) {
      sortKey = key;
      sortDescending = descending;
      const value = (entry: PanelEntry): number | string => {
        const result = entry.result;
        if (key === 'source') return entry.source;
        if (!result.ok) return Number.NEGATIVE_INFINITY;
        if (key === 'score') return result.score;
        if (key === 'latency') return result.timings.totalMs;
        return isAnomalous(result.score, threshold) ? 1 : 0;
      };
      entries.sort((a, b) => {
        const x = value(a);
        const y = value(b);
        const order = typeof x === 'string' && typeof y === 'string' ? x.localeCompare(y) : (x as number) - (y as number);
        return descending ? -order : order;
      });
      for (const entry of entries) body.append(rows.get(entry)!);
      for (const th of head.cells) {
        th.dataset.sorted = th.dataset.sort === key ? (descending ? 'desc' : 'asc') : '';
        th.textContent = th.textContent!.replace(/ [▲▼]$/, '') + (th.dataset.sort === key ? (descending ? ' ▼' : ' ▲') : '');
      }
      notify();
    },
    clear() {
      entries.length = 0;
      rows.clear();
      body.replaceChildren();
      status.textContent = '';
      notify();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    destroy() {
      listeners.clear();
      root.remove();
    },
  };
  return panel;
}

function relativePath(file: File): string {
  return (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name;
}

function badge(kind: 'anomalous' | 'normal' | 'error', text: string): HTMLElement {
  const span = document.createElement('span');
  span.className = `rsd-verdict rsd-${kind}`;
  span.textContent = text;
  return span;
}

/** Models that output their anomaly map themselves (DFR) have no reconstruction to show. */
function noReconstruction(family: string): HTMLElement {
  const note = document.createElement('span');
  note.className = 'rsd-none';
  note.dataset.role = 'no-reconstruction';
  note.textContent = 'none';
  note.title = `this ${family} model outputs its anomaly map directly (no reconstruction of the image)`;
  return note;
}

function scoreView(score: number, threshold: number): HTMLElement {
  const wrap = document.createElement('div');
  wrap.textContent = `${formatNumber(score)} / ${formatNumber(threshold)}`;
  const bar = document.createElement('div');
  bar.className = 'rsd-bar';
  bar.title = 'score relative to the threshold (mark = threshold)';
  const fill = document.createElement('span');
  // The threshold sits in the middle; twice the threshold fills the bar.
  const ratio = threshold > 0 ? Math.min(1, score / (2 * threshold)) : score > threshold ? 1 : 0;
  fill.style.width = `${(ratio * 100).toFixed(1)}%`;
  fill.style.background = isAnomalous(score, threshold) ? '#d93025' : '#1e8e3e';
  bar.append(fill, document.createElement('i'));
  wrap.append(bar);
  return wrap;
}

export function formatNumber(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  return magnitude >= 1000 || magnitude < 0.001 ? value.toExponential(3) : value.toPrecision(4);
}

function pixelsToCanvas(pixels: RgbaPixels, size: number): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = pixels.width;
  canvas.height = pixels.height;
  const scale = size / Math.max(pixels.width, pixels.height);
  canvas.style.width = `${Math.round(pixels.width * scale)}px`;
  canvas.style.height = `${Math.round(pixels.height * scale)}px`;
  canvas.getContext('2d')?.putImageData(new ImageData(new Uint8ClampedArray(pixels.data), pixels.width, pixels.height), 0, 0);
  return canvas;
}

/** Files of a drop, folders walked recursively, with their paths relative to the drop. */
async function filesFromDrop(transfer: DataTransfer): Promise<{ files: File[]; paths: string[] }> {
  const files: File[] = [];
  const paths: string[] = [];
  const entries = [...transfer.items]
    .map((item) => item.webkitGetAsEntry())
    .filter((entry): entry is FileSystemEntry => entry !== null);
  if (entries.length === 0) {
    for (const file of transfer.files) {
      files.push(file);
      paths.push(file.name);
    }
    return { files, paths };
  }
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      files.push(await new Promise<File>((ok, fail) => (entry as FileSystemFileEntry).file(ok, fail)));
      paths.push(entry.fullPath.replace(/^\//, ''));
      return;
    }
    if (!entry.isDirectory) return;
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
      if (batch.length === 0) break;
      for (const child of batch.sort((x, y) => x.fullPath.localeCompare(y.fullPath))) await walk(child);
    }
  };
  for (const entry of entries) await walk(entry);
  return { files, paths };
}

const IMAGE_NAME = /\.(png|jpe?g|bmp|webp|gif|tiff?)$/i;

function createDropZone(onFiles: (files: File[], paths: string[]) => void): HTMLElement {
  const zone = document.createElement('div');
  zone.className = 'rsd-drop';
  zone.append('Drop images or a folder here, or ');
  const filesLabel = document.createElement('label');
  filesLabel.textContent = 'pick images';
  const filesInput = document.createElement('input');
  filesInput.type = 'file';
  filesInput.multiple = true;
  filesInput.accept = 'image/*';
  filesInput.dataset.role = 'pick-files';
  filesLabel.append(filesInput);
  const folderLabel = document.createElement('label');
  folderLabel.textContent = 'pick a folder';
  const folderInput = document.createElement('input');
  folderInput.type = 'file';
  folderInput.multiple = true;
  folderInput.setAttribute('webkitdirectory', '');
  folderInput.dataset.role = 'pick-folder';
  folderLabel.append(folderInput);
  zone.append(filesLabel, ' or ', folderLabel);
  const take = (input: HTMLInputElement, onlyImages: boolean) => () => {
    const files = [...(input.files ?? [])].filter((file) => !onlyImages || IMAGE_NAME.test(file.name));
    input.value = '';
    if (files.length > 0) onFiles(files, files.map(relativePath));
  };
  filesInput.addEventListener('change', take(filesInput, false));
  // A picked folder may hold masks, notes etc.: keep what is named like an image.
  folderInput.addEventListener('change', take(folderInput, true));
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('rsd-over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('rsd-over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('rsd-over');
    if (!event.dataTransfer) return;
    void filesFromDrop(event.dataTransfer).then(({ files, paths }) => {
      // Files dropped directly are always inspected (a wrong one becomes an error row); inside
      // dropped folders only image-named files are (folders also hold masks, notes, ...).
      const keep = files
        .map((file, i) => [file, paths[i]] as const)
        .filter(([file, path]) => IMAGE_NAME.test(file.name) || !path.includes('/'));
      onFiles(keep.map(([file]) => file), keep.map(([, path]) => path));
    });
  });
  return zone;
}
