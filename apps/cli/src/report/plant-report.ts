/**
 * The plant report (`residuum report --central`): one self-contained HTML file in the evaluation
 * report's style (same stylesheet and chart code): defect rate per line, station and model
 * version, each line's defect rate over time, and the top anomalies. Pure: data in, HTML out.
 */
import type { PlantReportData } from '@residuum/line-service';
import { rateOverTimeSvg } from './charts.js';
import { escapeHtml } from './escape.js';
import { REPORT_STYLE } from './evaluation-report.js';
import { formatNumber, formatPercent } from '../util/format.js';

export function renderPlantReport(data: PlantReportData & { generator: string; generatedAt: string }): string {
  const total = data.groups.reduce((sum, g) => sum + g.results, 0);
  const anomalous = data.groups.reduce((sum, g) => sum + g.anomalous, 0);
  const errors = data.groups.reduce((sum, g) => sum + g.errors, 0);
  const rate = (n: number, of: number) => (of > 0 ? formatPercent(n / of) : '–');
  const tile = (name: string, key: string, value: string) =>
    `<div class="metric" data-metric="${escapeHtml(key)}"><div class="name">${escapeHtml(name)}</div><div class="value">${escapeHtml(value)}</div></div>`;
  const from = Date.parse(data.since);
  const until = Date.parse(data.until);
  const chart = rateOverTimeSvg({
    title: 'Defect rate over time (anomalous + error)',
    from,
    until,
    series: data.series.map((s) => ({ label: s.line, points: s.points.map((p) => [Date.parse(p.start), p.results > 0 ? p.rejected / p.results : 0] as const) })),
  });
  const groups = data.groups
    .map(
      (g) =>
        `<tr data-line="${escapeHtml(g.line)}"><td>${escapeHtml(g.line)}</td><td>${escapeHtml(g.station ?? '–')}</td><td>${g.modelVersion ?? '–'}${g.modelName ? ` (${escapeHtml(g.modelName)})` : ''}</td>` +
        `<td>${g.results}</td><td>${g.anomalous}</td><td>${g.errors}</td><td data-rate>${escapeHtml(rate(g.anomalous + g.errors, g.results))}</td></tr>`,
    )
    .join('');
  const top = data.top
    .map(
      (a) =>
        `<tr><td>${escapeHtml(a.line)}</td><td>${escapeHtml(a.station ?? '–')}</td><td>${escapeHtml(a.capturedAt)}</td><td>${escapeHtml(a.partId ?? '–')}</td>` +
        `<td>${escapeHtml(formatNumber(a.score))}</td><td>${escapeHtml(formatNumber(a.normalizedScore))}</td><td>${a.modelVersion ?? '–'}</td><td><code>${escapeHtml(a.resultId)}</code></td></tr>`,
    )
    .join('');
  const title = 'Residuum plant report';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="${escapeHtml(data.generator)}">
<meta name="residuum-report" content="plant">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${REPORT_STYLE}</style>
</head>
<body>
<h1>${title}</h1>
<table class="meta"><tbody>
<tr><td>central database</td><td>${escapeHtml(data.central)}</td></tr>
<tr><td>period</td><td>${escapeHtml(data.since)} to ${escapeHtml(data.until)} (capture time), ${escapeHtml(formatNumber(data.bucketSeconds / 60))} min buckets</td></tr>
<tr><td>generated</td><td>${escapeHtml(data.generatedAt)} by ${escapeHtml(data.generator)}</td></tr>
</tbody></table>
<h2>Plant</h2>
<div class="metrics">${tile('results', 'results', String(total))}${tile('anomalous', 'anomalous', String(anomalous))}${tile('errors', 'errors', String(errors))}${tile('defect rate', 'rate', rate(anomalous + errors, total))}${tile('lines', 'lines', String(new Set(data.groups.map((g) => g.line)).size))}</div>
<h2>Defect rate over time</h2>
<div class="charts">${total > 0 ? chart : '<p class="none">No results in this period.</p>'}</div>
<h2>Per line, station and model version</h2>
<table class="confusion" data-table="groups"><thead><tr><th>line</th><th>station</th><th>model version</th><th>results</th><th>anomalous</th><th>error</th><th>defect rate</th></tr></thead><tbody>${groups}</tbody></table>
<h2>Top anomalies</h2>
${top ? `<table class="confusion" data-table="top"><thead><tr><th>line</th><th>station</th><th>captured</th><th>part</th><th>score</th><th>normalized</th><th>model</th><th>result id</th></tr></thead><tbody>${top}</tbody></table>` : '<p class="none">No anomalous parts in this period.</p>'}
</body>
</html>
`;
}
