/**
 * Inline SVG charts for the evaluation report: pure functions from numbers to markup
 * (no external resources, no scripts), sized by viewBox so they scale with the page.
 */
import { escapeHtml } from './escape.js';
import { formatNumber } from '../util/format.js';

const WIDTH = 480;
const HEIGHT = 300;
const MARGIN = { left: 56, right: 16, top: 28, bottom: 44 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;

export const COLORS = { good: '#2b8a3e', defective: '#c92a2a', threshold: '#1c1c1c', curve: '#1864ab', chance: '#adb5bd' } as const;

function round(value: number): string {
  return (Math.round(value * 100) / 100).toString();
}

function svgOpen(title: string, description: string): string {
  return (
    `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(title)}">` +
    `<title>${escapeHtml(title)}</title><desc>${escapeHtml(description)}</desc>` +
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" class="chart-title">${escapeHtml(title)}</text>`
  );
}

/** Axes with ticks: x over [x0, x1], y over [y0, y1]. */
function axes(x0: number, x1: number, y0: number, y1: number, xLabel: string, yLabel: string, yInteger = false): string {
  const parts: string[] = [];
  const bottom = MARGIN.top + PLOT_H;
  parts.push(`<line x1="${MARGIN.left}" y1="${bottom}" x2="${MARGIN.left + PLOT_W}" y2="${bottom}" class="axis"/>`);
  parts.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${bottom}" class="axis"/>`);
  for (let i = 0; i <= 4; i += 1) {
    const fx = i / 4;
    const x = MARGIN.left + fx * PLOT_W;
    parts.push(`<line x1="${round(x)}" y1="${bottom}" x2="${round(x)}" y2="${bottom + 4}" class="axis"/>`);
    parts.push(`<text x="${round(x)}" y="${bottom + 16}" text-anchor="middle" class="tick">${escapeHtml(formatNumber(x0 + fx * (x1 - x0)))}</text>`);
    const y = bottom - fx * PLOT_H;
    const yValue = y0 + fx * (y1 - y0);
    parts.push(`<line x1="${MARGIN.left - 4}" y1="${round(y)}" x2="${MARGIN.left}" y2="${round(y)}" class="axis"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${round(y + 4)}" text-anchor="end" class="tick">${escapeHtml(yInteger ? Math.round(yValue).toString() : formatNumber(yValue))}</text>`);
  }
  parts.push(`<text x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 6}" text-anchor="middle" class="axis-label">${escapeHtml(xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle" class="axis-label">${escapeHtml(yLabel)}</text>`);
  return parts.join('');
}

export interface HistogramInput {
  normal: readonly number[];
  anomalous: readonly number[];
  threshold: number;
  bins?: number;
}

/** Counts per bin over [min, max]; the last bin is closed. */
export function binCounts(values: readonly number[], min: number, max: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const width = (max - min) / bins;
  for (const value of values) {
    if (!Number.isFinite(value)) continue;
    const index = width > 0 ? Math.min(bins - 1, Math.max(0, Math.floor((value - min) / width))) : 0;
    counts[index] += 1;
  }
  return counts;
}

/**
 * Where a heavy-tailed score axis is clipped (DFR: good parts 2-8, defects up to 8e5 squash every
 * bar into the first bin): when the maximum lies more than 10 times farther from the minimum than the
 * 98th percentile does, the axis ends at 1.25 x max(98th percentile, threshold) from the minimum and the
 * scores above are counted in the last bar. undefined: no clipping needed.
 */
export function histogramClip(values: readonly number[], threshold: number): number | undefined {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length < 10) return undefined;
  const min = sorted[0];
  const max = sorted[sorted.length - 1];
  const p98 = sorted[Math.floor(0.98 * (sorted.length - 1))];
  if (!(p98 > min) || max - min <= 10 * (p98 - min)) return undefined;
  const reference = Number.isFinite(threshold) ? Math.max(p98, threshold) : p98;
  const clip = min + 1.25 * (reference - min);
  return clip < max ? clip : undefined;
}

/** Overlaid score histograms of good and defective parts with the threshold as a dashed line. */
export function scoreHistogramSvg({ normal, anomalous, threshold, bins = 30 }: HistogramInput): string {
  const finite = [...normal, ...anomalous, threshold].filter(Number.isFinite);
  const clip = histogramClip([...normal, ...anomalous], threshold);
  const clipped = clip === undefined ? 0 : [...normal, ...anomalous].filter((v) => v > clip).length;
  let min = finite.length ? Math.min(...finite) : 0;
  let max = clip ?? (finite.length ? Math.max(...finite) : 1);
  if (max === min) {
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.05 : 0.5;
    min -= pad;
    max += pad;
  }
  const normalCounts = binCounts(normal, min, max, bins);
  const anomalousCounts = binCounts(anomalous, min, max, bins);
  // A multiple of 4 so the 5 y ticks are whole image counts.
  const peak = Math.ceil(Math.max(1, ...normalCounts, ...anomalousCounts) / 4) * 4;
  const barW = PLOT_W / bins;
  const bottom = MARGIN.top + PLOT_H;
  const bars = (counts: number[], color: string, cls: string) =>
    counts
      .map((count, i) =>
        count === 0
          ? ''
          : `<rect class="${cls}" x="${round(MARGIN.left + i * barW)}" y="${round(bottom - (count / peak) * PLOT_H)}" width="${round(barW)}" height="${round((count / peak) * PLOT_H)}" fill="${color}" fill-opacity="0.55"><title>${count}</title></rect>`,
      )
      .join('');
  const thresholdX = MARGIN.left + ((threshold - min) / (max - min)) * PLOT_W;
  const legendY = MARGIN.top + 8;
  return (
    svgOpen(
      'Image scores: good vs defective',
      `${normal.length} good and ${anomalous.length} defective images; threshold ${formatNumber(threshold)}` +
        (clip === undefined ? '' : `; axis clipped at ${formatNumber(clip)}: ${clipped} higher scores are counted in the last bar`),
    ) +
    axes(min, max, 0, peak, clip === undefined ? 'image score' : `image score (axis clipped at ${formatNumber(clip)}; ${clipped} higher scores in the last bar)`, 'images', true) +
    bars(normalCounts, COLORS.good, 'bar-good') +
    bars(anomalousCounts, COLORS.defective, 'bar-defective') +
    (Number.isFinite(threshold)
      ? `<line class="threshold" x1="${round(thresholdX)}" y1="${MARGIN.top}" x2="${round(thresholdX)}" y2="${bottom}" stroke="${COLORS.threshold}" stroke-dasharray="5 4" stroke-width="1.5"/>` +
        `<text x="${round(thresholdX + (thresholdX > MARGIN.left + PLOT_W / 2 ? -4 : 4))}" y="${MARGIN.top + PLOT_H / 2}" text-anchor="${thresholdX > MARGIN.left + PLOT_W / 2 ? 'end' : 'start'}" class="tick">threshold ${escapeHtml(formatNumber(threshold))}</text>`
      : '') +
    `<rect x="${WIDTH - 150}" y="${legendY - 8}" width="10" height="10" fill="${COLORS.good}" fill-opacity="0.55"/><text x="${WIDTH - 136}" y="${legendY + 1}" class="tick">good (${normal.length})</text>` +
    `<rect x="${WIDTH - 150}" y="${legendY + 8}" width="10" height="10" fill="${COLORS.defective}" fill-opacity="0.55"/><text x="${WIDTH - 136}" y="${legendY + 17}" class="tick">defective (${anomalous.length})</text>` +
    '</svg>'
  );
}

/** Keeps at most `limit` points (always the first and last), enough for a 480 px wide chart. */
export function thinCurve(xs: readonly number[], ys: readonly number[], limit = 600): Array<[number, number]> {
  const n = Math.min(xs.length, ys.length);
  const step = n > limit ? (n - 1) / (limit - 1) : 1;
  const points: Array<[number, number]> = [];
  for (let k = 0; ; k += 1) {
    const index = Math.min(n - 1, Math.round(k * step));
    if (n === 0) break;
    points.push([xs[index], ys[index]]);
    if (index >= n - 1) break;
  }
  return points;
}

export interface CurveInput {
  title: string;
  xLabel: string;
  yLabel: string;
  xs: readonly number[];
  ys: readonly number[];
  /** e.g. "AUROC 0.912", shown in the plot. */
  annotation: string;
  /** The chance line: the diagonal for ROC, a horizontal line at the positive rate for PR. */
  chance?: { kind: 'diagonal' } | { kind: 'horizontal'; y: number };
}

/** A curve on the unit square (ROC, PR). */
export function unitCurveSvg({ title, xLabel, yLabel, xs, ys, annotation, chance }: CurveInput): string {
  const toX = (x: number) => round(MARGIN.left + Math.min(1, Math.max(0, x)) * PLOT_W);
  const toY = (y: number) => round(MARGIN.top + PLOT_H - Math.min(1, Math.max(0, y)) * PLOT_H);
  const points = thinCurve(xs, ys).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  let chanceLine = '';
  if (chance?.kind === 'diagonal') chanceLine = `<line x1="${toX(0)}" y1="${toY(0)}" x2="${toX(1)}" y2="${toY(1)}" stroke="${COLORS.chance}" stroke-dasharray="4 4"/>`;
  else if (chance?.kind === 'horizontal') chanceLine = `<line x1="${toX(0)}" y1="${toY(chance.y)}" x2="${toX(1)}" y2="${toY(chance.y)}" stroke="${COLORS.chance}" stroke-dasharray="4 4"/>`;
  return (
    svgOpen(title, `${title}: ${annotation}`) +
    axes(0, 1, 0, 1, xLabel, yLabel) +
    chanceLine +
    (points.length ? `<polyline class="curve" fill="none" stroke="${COLORS.curve}" stroke-width="2" points="${points.map(([x, y]) => `${toX(x)},${toY(y)}`).join(' ')}"/>` : '') +
    `<text x="${MARGIN.left + PLOT_W - 8}" y="${MARGIN.top + PLOT_H - 10}" text-anchor="end" class="annotation">${escapeHtml(annotation)}</text>` +
    '</svg>'
  );
}

export interface RateSeries {
  label: string;
  /** [time in ms, rate in 0..1] */
  points: ReadonlyArray<readonly [number, number]>;
}

const SERIES_COLORS = ['#1864ab', '#c92a2a', '#2b8a3e', '#e67700', '#5f3dc4', '#0b7285', '#862e9c', '#495057'];

/** Rates (0..1) over time, one polyline per series; x ticks in hours before `until`. */
export function rateOverTimeSvg({ title, series, from, until }: { title: string; series: readonly RateSeries[]; from: number; until: number }): string {
  const span = Math.max(1, until - from);
  const maxRate = Math.max(0.01, ...series.flatMap((s) => s.points.map(([, rate]) => rate)));
  const toX = (t: number) => round(MARGIN.left + ((t - from) / span) * PLOT_W);
  const toY = (rate: number) => round(MARGIN.top + PLOT_H - (rate / maxRate) * PLOT_H);
  const lines = series.map((s, index) => {
    const color = SERIES_COLORS[index % SERIES_COLORS.length];
    const points = s.points.map(([t, rate]) => `${toX(t)},${toY(rate)}`).join(' ');
    return (
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"><title>${escapeHtml(s.label)}</title></polyline>` +
      `<text x="${MARGIN.left + 8}" y="${MARGIN.top + 14 + index * 14}" class="tick" fill="${color}">${escapeHtml(s.label)}</text>`
    );
  });
  return svgOpen(title, `${title}: ${series.length} series`) + axes(-span / 3_600_000, 0, 0, maxRate, 'hours before the report', 'defect rate') + lines.join('') + '</svg>';
}
