/**
 * The evaluation report: one self-contained HTML file (inline CSS and SVG, images as
 * data: URIs, no scripts and no external URLs) so it can be mailed or archived as is.
 * Pure: data in, HTML string out.
 */
import { describeVerdictCounts, type OperatingPoint, type OperatingPoints, type ProportionInterval, type VerdictCounts } from '@residuum/scoring';
import { COLORS, scoreHistogramSvg, unitCurveSvg } from './charts.js';
import { escapeHtml, pngDataUri } from './escape.js';
import { formatNumber, formatPercent } from '../util/format.js';

export interface ReportGalleryItem {
  path: string;
  label: 0 | 1;
  score: number;
  /** input | reconstruction | heatmap overlay, side by side, as PNG bytes; absent if it could not be rendered. */
  png?: Uint8Array;
  /** What the panels show, e.g. "input | heatmap" for a model without reconstruction (default: input | reconstruction | heatmap). */
  caption?: string;
  note?: string;
}

export interface EvaluationReportData {
  /** e.g. "residuum 0.1.0". */
  generator: string;
  generatedAt: string;
  /** Set when the run was interrupted: shown as a banner (the metrics cover what was scored). */
  interrupted?: string;
  model: { path: string; name: string; family: string; input: string; thresholdMethod: string; cardThreshold: number };
  provider: string;
  dataset: { root: string; layout: string; normalCount: number; anomalousCount: number; skipped: ReadonlyArray<{ path: string; reason: string }> };
  threshold: number;
  image: {
    auroc: number | null;
    ap: number | null;
    f1: number;
    precision: number;
    recall: number;
    accuracy: number;
    balancedAccuracy: number;
    f1Max: number | null;
    f1MaxThreshold: number | null;
  };
  pixel?: { auroc: number | null; aupro: number | null };
  confusion: { tp: number; fp: number; tn: number; fn: number };
  /** Caught / rejected at the threshold with exact 95 % intervals: the report's first line. */
  atThreshold: VerdictCounts;
  operatingPoints: OperatingPoints;
  /** Shown when there are two or more defect types. */
  perDefectType?: ReadonlyArray<{ defectType: string; count: number; auroc: number; detectionRate: number }>;
  scores: { normal: readonly number[]; anomalous: readonly number[] };
  roc: { fpr: readonly number[]; tpr: readonly number[] };
  pr: { recall: readonly number[]; precision: readonly number[] };
  gallery: { falsePositives: readonly ReportGalleryItem[]; falseNegatives: readonly ReportGalleryItem[] };
  timings: { totalMs: number; imagesPerSecond: number };
}

export const REPORT_STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#212529;background:#fff}
h1{font-size:1.5rem;margin:.2em 0}h2{font-size:1.15rem;margin:1.4em 0 .5em;border-bottom:1px solid #dee2e6;padding-bottom:.2em}
.meta{color:#495057;font-size:.9rem}.meta td{padding:1px 12px 1px 0;vertical-align:top}
.metrics{display:flex;flex-wrap:wrap;gap:10px}.metric{border:1px solid #dee2e6;border-radius:6px;padding:8px 12px;min-width:110px}
.metric .name{font-size:.75rem;color:#868e96;text-transform:uppercase;letter-spacing:.04em}.metric .value{font-size:1.35rem;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
svg.chart{width:100%;height:auto;border:1px solid #f1f3f5;border-radius:6px}
.chart-title{font-size:14px;font-weight:600}.tick{font-size:11px;fill:#495057}.axis-label{font-size:12px;fill:#212529}.annotation{font-size:14px;font-weight:600;fill:${COLORS.curve}}
.axis{stroke:#495057;stroke-width:1}
table.confusion{border-collapse:collapse;font-variant-numeric:tabular-nums}table.confusion td,table.confusion th{border:1px solid #ced4da;padding:6px 14px;text-align:center}
table.confusion td.correct{background:#ebfbee}table.confusion td.wrong{background:#fff5f5}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
figure{margin:0;border:1px solid #dee2e6;border-radius:6px;padding:8px}figure img{width:100%;image-rendering:pixelated}
figcaption{font-size:.8rem;word-break:break-all}.none{color:#868e96;font-style:italic}
ul.skipped{font-size:.85rem;max-height:16em;overflow:auto}
.verdict{font-size:1.15rem;font-weight:600;margin:.4em 0}
`;

function metricTile(name: string, key: string, value: number | null | undefined, hint?: string): string {
  return `<div class="metric" data-metric="${escapeHtml(key)}"${hint ? ` title="${escapeHtml(hint)}"` : ''}><div class="name">${escapeHtml(name)}</div><div class="value">${escapeHtml(formatNumber(value ?? null))}</div></div>`;
}

function confusionTable({ tp, fp, tn, fn }: EvaluationReportData['confusion']): string {
  return (
    '<table class="confusion"><thead><tr><th></th><th>predicted good</th><th>predicted defective</th></tr></thead><tbody>' +
    `<tr><th>actually good</th><td class="correct" data-cell="tn">${tn}</td><td class="wrong" data-cell="fp">${fp}</td></tr>` +
    `<tr><th>actually defective</th><td class="wrong" data-cell="fn">${fn}</td><td class="correct" data-cell="tp">${tp}</td></tr>` +
    '</tbody></table>'
  );
}

function defectTypeTable(rows: NonNullable<EvaluationReportData['perDefectType']>): string {
  if (rows.length < 2) return '';
  return (
    '<h2>Per defect type</h2><table class="confusion" data-table="defect-types"><thead><tr><th>defect type</th><th>images</th><th>AUROC vs good</th><th>detected at threshold</th></tr></thead><tbody>' +
    rows
      .map((r) => `<tr><td>${escapeHtml(r.defectType)}</td><td>${r.count}</td><td>${escapeHtml(formatNumber(r.auroc))}</td><td>${escapeHtml(formatPercent(r.detectionRate))}</td></tr>`)
      .join('') +
    '</tbody></table>'
  );
}

function galleryHtml(items: readonly ReportGalleryItem[], kind: 'fp' | 'fn'): string {
  if (items.length === 0) return `<p class="none">${kind === 'fp' ? 'No false positives at this threshold.' : 'No false negatives at this threshold.'}</p>`;
  return (
    `<div class="gallery" data-gallery="${kind}">` +
    items
      .map((item) => {
        const caption = item.caption ?? 'input | reconstruction | heatmap';
        const image = item.png ? `<img alt="${escapeHtml(caption)} of ${escapeHtml(item.path)}" src="${pngDataUri(item.png)}">` : `<p class="none">${escapeHtml(item.note ?? 'no image')}</p>`;
        return `<figure>${image}<figcaption>${escapeHtml(item.path)}<br>score <b>${escapeHtml(formatNumber(item.score))}</b> (${item.label === 1 ? 'defective' : 'good'})${item.png ? ` &mdash; ${escapeHtml(caption)}` : ''}</figcaption></figure>`;
      })
      .join('') +
    '</div>'
  );
}

function intervalText(interval: ProportionInterval | undefined): string {
  return interval ? `${formatPercent(interval.estimate)} [${formatPercent(interval.lower)}, ${formatPercent(interval.upper)}]` : '-';
}

/** The line manager's view, first: what the threshold catches and rejects, with exact 95 % intervals. */
function verdictHtml(data: EvaluationReportData): string {
  const isCard = data.threshold === data.model.cardThreshold;
  const sentence = describeVerdictCounts(data.atThreshold, isCard ? "at the model's threshold" : 'at the given threshold');
  return (
    `<p class="verdict" data-verdict>${escapeHtml(sentence)}.</p>` +
    `<p class="meta" data-intervals>recall ${escapeHtml(intervalText(data.atThreshold.recall))}, false-alarm rate ${escapeHtml(intervalText(data.atThreshold.falseAlarmRate))} ` +
    '(95 % Clopper-Pearson intervals: exact binomial, they say how far the rates on a line may differ from these counts).</p>'
  );
}

function operatingPointRow(p: OperatingPoint): string {
  const target = p.target.kind === 'false-alarm-rate' ? `false alarms &le; ${escapeHtml(formatPercent(p.target.value))}` : `recall &ge; ${escapeHtml(formatPercent(p.target.value))}`;
  return (
    `<tr data-target="${p.target.kind}:${p.target.value}"><td>${target}</td><td>${escapeHtml(formatPercent(p.recall))}</td><td>${escapeHtml(formatPercent(p.falseAlarmRate))}</td>` +
    `<td>${escapeHtml(formatNumber(p.threshold))}</td><td>${p.tp} of ${p.tp + p.fn}</td><td>${p.fp} of ${p.fp + p.tn}</td></tr>`
  );
}

function operatingPointsTable(points: OperatingPoints): string {
  return (
    '<table class="confusion" data-table="operating-points"><thead><tr><th>operating point</th><th>recall</th><th>false-alarm rate</th><th>threshold</th><th>defective caught</th><th>good rejected</th></tr></thead><tbody>' +
    [...points.atFalseAlarmRate, ...points.atRecall].map(operatingPointRow).join('') +
    '</tbody></table><p class="meta">Each row is the best threshold on this set for its target (every distinct score is a candidate, as sklearn roc_curve); a score &ge; threshold is defective.</p>'
  );
}

/** Renders the whole report. Throws if a gallery image is not PNG. */
export function renderEvaluationReport(data: EvaluationReportData): string {
  const total = data.dataset.normalCount + data.dataset.anomalousCount;
  const positiveRate = total > 0 ? data.dataset.anomalousCount / total : 0;
  const title = `Residuum evaluation: ${data.model.name}`;
  const skipped = data.dataset.skipped;
  const pixel = data.pixel
    ? metricTile('pixel AUROC', 'pixel.auroc', data.pixel.auroc) + metricTile('AUPRO (FPR ≤ 0.3)', 'pixel.aupro', data.pixel.aupro)
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="${escapeHtml(data.generator)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${REPORT_STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${data.interrupted ? `<p class="interrupted"><strong>${escapeHtml(data.interrupted)}</strong>: the figures below cover only the images scored before the interruption.</p>` : ''}
${verdictHtml(data)}
<table class="meta"><tbody>
<tr><td>model</td><td>${escapeHtml(data.model.path)} (${escapeHtml(data.model.family)}, input ${escapeHtml(data.model.input)})</td></tr>
<tr><td>dataset</td><td>${escapeHtml(data.dataset.root)} (${escapeHtml(data.dataset.layout)} layout): ${data.dataset.normalCount} good, ${data.dataset.anomalousCount} defective${skipped.length ? `, ${skipped.length} skipped` : ''}</td></tr>
<tr><td>threshold</td><td data-threshold="${data.threshold}">${escapeHtml(formatNumber(data.threshold))}${data.threshold === data.model.cardThreshold ? ` (model card, ${escapeHtml(data.model.thresholdMethod)})` : ` (override; model card: ${escapeHtml(formatNumber(data.model.cardThreshold))})`}; a score &ge; threshold is defective</td></tr>
<tr><td>provider</td><td>${escapeHtml(data.provider)}; ${escapeHtml(formatNumber(data.timings.imagesPerSecond))} images/s, ${escapeHtml(formatNumber(data.timings.totalMs / 1000))} s in all</td></tr>
<tr><td>generated</td><td>${escapeHtml(data.generatedAt)} by ${escapeHtml(data.generator)}</td></tr>
</tbody></table>
<h2>Metrics</h2>
<div class="metrics">
${metricTile('image AUROC', 'image.auroc', data.image.auroc)}${metricTile('average precision', 'image.ap', data.image.ap)}${metricTile('F1 at threshold', 'image.f1', data.image.f1)}${metricTile('precision', 'image.precision', data.image.precision)}${metricTile('recall', 'image.recall', data.image.recall)}${metricTile('accuracy', 'image.accuracy', data.image.accuracy)}${metricTile('balanced accuracy', 'image.balancedAccuracy', data.image.balancedAccuracy, 'mean of recall and specificity: 0.5 at chance, whatever the share of defective images')}${metricTile('F1 max', 'image.f1Max', data.image.f1Max, data.image.f1MaxThreshold === null ? undefined : `at threshold ${formatNumber(data.image.f1MaxThreshold)}; F1 depends on the share of defective images (${formatPercent(positiveRate)} here), read it beside the balanced accuracy and the operating points`)}${pixel}
</div>
<h2>Operating points</h2>
${operatingPointsTable(data.operatingPoints)}
<h2>Scores and curves</h2>
<div class="charts">
${scoreHistogramSvg({ normal: data.scores.normal, anomalous: data.scores.anomalous, threshold: data.threshold })}
${unitCurveSvg({ title: 'ROC curve', xLabel: 'false positive rate', yLabel: 'true positive rate', xs: data.roc.fpr, ys: data.roc.tpr, annotation: `AUROC ${formatNumber(data.image.auroc)}`, chance: { kind: 'diagonal' } })}
${unitCurveSvg({ title: 'Precision-recall curve', xLabel: 'recall', yLabel: 'precision', xs: data.pr.recall, ys: data.pr.precision, annotation: `AP ${formatNumber(data.image.ap)}`, chance: { kind: 'horizontal', y: positiveRate } })}
</div>
<h2>Confusion matrix at threshold ${escapeHtml(formatNumber(data.threshold))}</h2>
${confusionTable(data.confusion)}
<p class="meta">false positive rate ${escapeHtml(formatPercent(data.confusion.fp / Math.max(1, data.confusion.fp + data.confusion.tn)))}, miss rate ${escapeHtml(formatPercent(data.confusion.fn / Math.max(1, data.confusion.fn + data.confusion.tp)))}</p>
${defectTypeTable(data.perDefectType ?? [])}
<h2>Worst false positives (good parts scored highest)</h2>
${galleryHtml(data.gallery.falsePositives, 'fp')}
<h2>Worst false negatives (defective parts scored lowest)</h2>
${galleryHtml(data.gallery.falseNegatives, 'fn')}
${skipped.length ? `<h2>Skipped files (${skipped.length})</h2><ul class="skipped">${skipped.map((s) => `<li>${escapeHtml(s.path)}: ${escapeHtml(s.reason)}</li>`).join('')}</ul>` : ''}
</body>
</html>
`;
}
