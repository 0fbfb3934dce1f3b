/** Small SVG charts (no dependencies): score histogram with the threshold line, ROC curve. */
const SVG = 'http://www.w3.org/2000/svg';

function svgElement<K extends keyof SVGElementTagNameMap>(name: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

export interface HistogramInput {
  scores: Array<{ score: number; truth?: 'good' | 'defective' }>;
  threshold: number;
  /** Score range shown on the x axis. */
  min: number;
  max: number;
  bins?: number;
}

const COLORS = { good: '#1e8e3e', defective: '#d93025', unknown: '#5b7bd5' } as const;

/** Stacked histogram (good / defective / unlabelled) with a vertical threshold line. */
export function renderHistogram(target: SVGSVGElement, input: HistogramInput): void {
  const width = 520;
  const height = 200;
  const pad = { left: 36, right: 10, top: 10, bottom: 28 };
  const bins = input.bins ?? 30;
  const span = input.max - input.min || 1;
  const counts = Array.from({ length: bins }, () => ({ good: 0, defective: 0, unknown: 0 }));
  for (const { score, truth } of input.scores) {
    const bin = Math.min(bins - 1, Math.max(0, Math.floor(((score - input.min) / span) * bins)));
    counts[bin][truth ?? 'unknown'] += 1;
  }
  const tallest = Math.max(1, ...counts.map((c) => c.good + c.defective + c.unknown));
  const plotWidth = width - pad.left - pad.right;
  const plotHeight = height - pad.top - pad.bottom;
  const x = (value: number) => pad.left + ((value - input.min) / span) * plotWidth;
  target.replaceChildren();
  target.setAttribute('viewBox', `0 0 ${width} ${height}`);
  target.append(svgElement('line', { x1: pad.left, y1: pad.top + plotHeight, x2: width - pad.right, y2: pad.top + plotHeight, stroke: '#8a94a6' }));
  counts.forEach((count, bin) => {
    let y = pad.top + plotHeight;
    for (const kind of ['good', 'defective', 'unknown'] as const) {
      if (count[kind] === 0) continue;
      const h = (count[kind] / tallest) * plotHeight;
      y -= h;
      target.append(svgElement('rect', { x: pad.left + (bin / bins) * plotWidth + 0.5, y, width: plotWidth / bins - 1, height: h, fill: COLORS[kind] }));
    }
  });
  const tx = x(Math.min(input.max, Math.max(input.min, input.threshold)));
  target.append(svgElement('line', { x1: tx, y1: pad.top - 4, x2: tx, y2: pad.top + plotHeight, stroke: '#1d2330', 'stroke-width': 2, 'stroke-dasharray': '4 3', 'data-role': 'threshold-line' }));
  const label = svgElement('text', { x: Math.min(tx + 4, width - 190), y: pad.top + 10, 'font-size': 11, fill: '#1d2330' });
  label.textContent = `threshold ${input.threshold.toPrecision(4)}`;
  target.append(label);
  for (const [value, anchor] of [[input.min, 'start'], [input.max, 'end']] as const) {
    const tick = svgElement('text', { x: x(value), y: height - 8, 'font-size': 11, 'text-anchor': anchor, fill: '#5a6478' });
    tick.textContent = value.toPrecision(3);
    target.append(tick);
  }
  // Legend: only the classes present in this session.
  const present = (['good', 'defective', 'unknown'] as const).filter((kind) => counts.some((count) => count[kind] > 0));
  present.forEach((kind, i) => {
    const y = pad.top + 4 + i * 14;
    target.append(svgElement('rect', { x: width - pad.right - 86, y: y - 8, width: 10, height: 10, fill: COLORS[kind] }));
    const text = svgElement('text', { x: width - pad.right - 72, y, 'font-size': 11, fill: '#1d2330' });
    text.textContent = kind === 'unknown' ? 'no label' : kind;
    target.append(text);
  });
  const axis = svgElement('text', { x: pad.left + plotWidth / 2, y: height - 8, 'font-size': 11, 'text-anchor': 'middle', fill: '#5a6478' });
  axis.textContent = 'anomaly score';
  const top = svgElement('text', { x: 4, y: pad.top + 8, 'font-size': 11, fill: '#5a6478' });
  top.textContent = String(tallest);
  target.append(axis, top);
}

/** ROC curve (FPR on x, TPR on y) with the diagonal and the operating point of the threshold. */
export function renderRoc(
  target: SVGSVGElement,
  points: ReadonlyArray<{ fpr: number; tpr: number }>,
  operatingPoint: { fpr: number; tpr: number } | undefined,
  auroc: number,
): void {
  const size = 200;
  const pad = 28;
  const plot = size - 2 * pad;
  const px = (fpr: number) => pad + fpr * plot;
  const py = (tpr: number) => pad + (1 - tpr) * plot;
  target.replaceChildren();
  target.setAttribute('viewBox', `0 0 ${size} ${size}`);
  target.append(svgElement('rect', { x: pad, y: pad, width: plot, height: plot, fill: 'none', stroke: '#8a94a6' }));
  target.append(svgElement('line', { x1: px(0), y1: py(0), x2: px(1), y2: py(1), stroke: '#c4cad6', 'stroke-dasharray': '3 3' }));
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p.fpr).toFixed(1)},${py(p.tpr).toFixed(1)}`).join(' ');
  target.append(svgElement('path', { d: path, fill: 'none', stroke: '#3767d6', 'stroke-width': 2 }));
  if (operatingPoint) {
    target.append(svgElement('circle', { cx: px(operatingPoint.fpr), cy: py(operatingPoint.tpr), r: 4, fill: '#d93025', 'data-role': 'operating-point' }));
  }
  const title = svgElement('text', { x: size / 2, y: 16, 'font-size': 12, 'text-anchor': 'middle', fill: '#1d2330' });
  title.textContent = `ROC, AUROC = ${auroc.toFixed(3)}`;
  const xLabel = svgElement('text', { x: size / 2, y: size - 8, 'font-size': 10, 'text-anchor': 'middle', fill: '#5a6478' });
  xLabel.textContent = 'false positive rate';
  const yLabel = svgElement('text', { x: 10, y: size / 2, 'font-size': 10, 'text-anchor': 'middle', fill: '#5a6478', transform: `rotate(-90 10 ${size / 2})` });
  yLabel.textContent = 'true positive rate';
  target.append(title, xLabel, yLabel);
}
