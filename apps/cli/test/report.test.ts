import { describe, expect, it } from 'vitest';
import { renderEvaluationReport, type EvaluationReportData } from '../src/report/evaluation-report.js';
import { binCounts, histogramClip, scoreHistogramSvg, thinCurve } from '../src/report/charts.js';
import { escapeHtml, pngDataUri } from '../src/report/escape.js';
import { operatingPoints, verdictCounts } from '@residuum/scoring';
import { seededRandom } from './helpers.js';

// A 1x1 PNG (valid signature and chunks) for the gallery.
const PNG_1X1 = Uint8Array.from(
  Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64'),
);

function sampleData(overrides: Partial<EvaluationReportData> = {}): EvaluationReportData {
  const random = seededRandom(3);
  const normal = Array.from({ length: 40 }, () => 0.01 + 0.02 * random());
  const anomalous = Array.from({ length: 25 }, () => 0.025 + 0.05 * random());
  return {
    generator: 'residuum 9.9.9',
    generatedAt: '2026-11-23T12:00:00.000Z',
    model: { path: 'models/cae.onnx', name: 'cae-<test>', family: 'cae', input: '64x64x1', thresholdMethod: 'quantile', cardThreshold: 0.03 },
    provider: 'cpu',
    dataset: { root: 'data/casting', layout: 'folder', normalCount: 40, anomalousCount: 25, skipped: [{ path: 'data/bad & broken.png', reason: 'truncated <PNG>' }] },
    threshold: 0.03,
    image: { auroc: 0.91234, ap: 0.8765, f1: 0.7123, precision: 0.66, recall: 0.77, accuracy: 0.8123, balancedAccuracy: 0.8, f1Max: 0.7777, f1MaxThreshold: 0.0312 },
    confusion: { tp: 19, fp: 10, tn: 30, fn: 6 },
    atThreshold: verdictCounts([...normal, ...anomalous], [...normal.map(() => 0), ...anomalous.map(() => 1)], 0.03),
    operatingPoints: operatingPoints([...normal, ...anomalous], [...normal.map(() => 0), ...anomalous.map(() => 1)]),
    scores: { normal, anomalous },
    roc: { fpr: [0, 0.1, 0.5, 1], tpr: [0, 0.6, 0.9, 1] },
    pr: { recall: [0, 0.5, 1], precision: [1, 0.8, 0.4] },
    gallery: {
      falsePositives: [{ path: 'test/ok_front/<x>.jpeg', label: 0, score: 0.049, png: PNG_1X1 }],
      falseNegatives: [{ path: 'test/def_front/y.jpeg', label: 1, score: 0.011, note: 'not rendered: gone' }],
    },
    timings: { totalMs: 2500, imagesPerSecond: 26 },
    ...overrides,
  };
}

describe('renderEvaluationReport', () => {
  it('is one complete HTML document with the metrics, charts and confusion counts', () => {
    const html = renderEvaluationReport(sampleData());
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.match(/<html\b/g)).toHaveLength(1);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(html).toContain('<meta name="generator" content="residuum 9.9.9">');
    // Three charts: histogram, ROC, PR; every <svg> is closed.
    expect(html.match(/<svg\b/g)).toHaveLength(3);
    expect(html.match(/<\/svg>/g)).toHaveLength(3);
    expect(html).toMatch(/data-metric="image.auroc"[^>]*><div class="name">image AUROC<\/div><div class="value">0.9123<\/div>/);
    expect(html).toMatch(/data-metric="image.ap".*0.8765/);
    expect(html).toContain('AUROC 0.9123');
    expect(html).toContain('AP 0.8765');
    expect(html).toMatch(/data-cell="tp">19</);
    expect(html).toMatch(/data-cell="fp">10</);
    expect(html).toMatch(/data-cell="tn">30</);
    expect(html).toMatch(/data-cell="fn">6</);
    // The threshold line is drawn in the histogram.
    expect(html).toMatch(/<line class="threshold"/);
    expect(html).not.toContain('data-metric="pixel.auroc"');
  });

  it("opens with the verdict at the model's threshold in words, with intervals, and lists the operating points", () => {
    const data = sampleData();
    const html = renderEvaluationReport(data);
    const { caught, rejected } = data.atThreshold;
    const firstText = html.slice(html.indexOf('<h1>')).replace(/&#39;/g, "'").replace(/<[^>]+>/g, '\n').split('\n').map((l) => l.trim()).filter(Boolean);
    expect(firstText[1]).toBe(`at the model's threshold: ${caught} of 25 defective parts caught (${((100 * caught) / 25).toFixed(1)} %), ${rejected} of 40 good parts rejected (${((100 * rejected) / 40).toFixed(1)} %).`);
    expect(firstText[2]).toMatch(/^recall \d+\.\d% \[\d+\.\d%, \d+\.\d%\], false-alarm rate .*Clopper-Pearson/);
    expect(html.match(/<tr data-target=/g)).toHaveLength(6);
    expect(html).toContain('data-target="false-alarm-rate:0.05"');
    expect(html).toContain('data-target="recall:0.99"');
    expect(html).toMatch(/data-metric="image.balancedAccuracy"/);
    const overridden = renderEvaluationReport({ ...data, threshold: 0.04 });
    expect(overridden).toContain('at the given threshold:');
  });

  it('draws one histogram bar per non-empty bin and counts every score', () => {
    const data = sampleData();
    const html = renderEvaluationReport(data);
    const counted = [...html.matchAll(/class="bar-(good|defective)"[^>]*><title>(\d+)<\/title>/g)];
    const good = counted.filter((m) => m[1] === 'good').reduce((n, m) => n + Number(m[2]), 0);
    const defective = counted.filter((m) => m[1] === 'defective').reduce((n, m) => n + Number(m[2]), 0);
    expect(good).toBe(data.scores.normal.length);
    expect(defective).toBe(data.scores.anomalous.length);
  });

  it('tabulates defect types when there are several', () => {
    const rows = [
      { defectType: 'crack', count: 12, auroc: 0.9312, detectionRate: 0.75 },
      { defectType: 'blow<hole>', count: 3, auroc: 0.5, detectionRate: 0 },
    ];
    const html = renderEvaluationReport(sampleData({ perDefectType: rows }));
    const table = html.slice(html.indexOf('data-table="defect-types"'), html.indexOf('</table>', html.indexOf('data-table="defect-types"')));
    expect(table).toContain('<tr><td>crack</td><td>12</td><td>0.9312</td><td>75.0%</td></tr>');
    expect(table).toContain('<tr><td>blow&lt;hole&gt;</td><td>3</td><td>0.5</td><td>0.0%</td></tr>');
    expect(renderEvaluationReport(sampleData({ perDefectType: rows.slice(0, 1) }))).not.toContain('data-table="defect-types"');
  });

  it('shows pixel metrics when given', () => {
    const html = renderEvaluationReport(sampleData({ pixel: { auroc: 0.95432, aupro: 0.81 } }));
    expect(html).toMatch(/data-metric="pixel.auroc".*0.9543/);
    expect(html).toMatch(/data-metric="pixel.aupro".*0.81/);
  });

  it('references nothing outside the file: no URLs, no scripts, images inline', () => {
    const html = renderEvaluationReport(sampleData());
    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/(src|href)\s*=\s*"(?!data:)/i);
    expect(html).not.toMatch(/url\(/i);
    expect(html).not.toMatch(/<script|<link|@import/i);
    const sources = [...html.matchAll(/src="([^"]*)"/g)].map((m) => m[1]);
    expect(sources).toHaveLength(1);
    expect(sources[0].startsWith('data:image/png;base64,')).toBe(true);
    expect(Buffer.from(sources[0].slice('data:image/png;base64,'.length), 'base64')).toEqual(Buffer.from(PNG_1X1));
  });

  it('escapes every text from the data (paths, names, reasons)', () => {
    const html = renderEvaluationReport(sampleData());
    expect(html).not.toContain('<x>');
    expect(html).not.toContain('<test>');
    expect(html).toContain('cae-&lt;test&gt;');
    expect(html).toContain('bad &amp; broken.png: truncated &lt;PNG&gt;');
    expect(html).toContain('not rendered: gone');
  });

  it('says so when a gallery is empty and survives degenerate scores', () => {
    const html = renderEvaluationReport(
      sampleData({
        scores: { normal: [0.5, 0.5], anomalous: [0.5] },
        threshold: 0.5,
        image: { auroc: null, ap: null, f1: 0, precision: 0, recall: 0, accuracy: 0, balancedAccuracy: 0.5, f1Max: null, f1MaxThreshold: null },
        gallery: { falsePositives: [], falseNegatives: [] },
      }),
    );
    expect(html).toContain('No false positives at this threshold.');
    expect(html).toContain('No false negatives at this threshold.');
    expect(html).toMatch(/data-metric="image.auroc"[^>]*>.*?<div class="value">n\/a<\/div>/);
    expect(html).not.toMatch(/NaN|Infinity/);
  });

  it('rejects gallery images that are not PNG', () => {
    const data = sampleData();
    const notPng = { ...data.gallery.falsePositives[0], png: new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0]) };
    expect(() => renderEvaluationReport({ ...data, gallery: { ...data.gallery, falsePositives: [notPng] } })).toThrow(/PNG/);
  });
});

describe('report helpers', () => {
  it('bins every finite value once, the maximum into the last bin', () => {
    expect(binCounts([0, 0.1, 0.5, 0.99, 1, Number.NaN], 0, 1, 4)).toEqual([2, 0, 1, 2]);
  });

  it('thins long curves but keeps both ends', () => {
    const xs = Array.from({ length: 5000 }, (_, i) => i / 4999);
    const thinned = thinCurve(xs, xs, 100);
    expect(thinned.length).toBeLessThanOrEqual(101);
    expect(thinned[0]).toEqual([0, 0]);
    expect(thinned[thinned.length - 1]).toEqual([1, 1]);
    expect(thinCurve([0, 1], [0, 1])).toEqual([[0, 0], [1, 1]]);
    expect(thinCurve([], [])).toEqual([]);
  });

  it('escapes HTML and checks PNG signatures', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(() => pngDataUri(new Uint8Array([1, 2, 3]))).toThrow(/PNG/);
  });
});

describe('score histogram axis for heavy-tailed scores', () => {
  it('clips the axis when a few scores are far beyond the rest, counts them in the last bar and says so', () => {
    const normal = Array.from({ length: 100 }, (_, i) => 2 + (6 * i) / 99);
    const anomalous = [...Array.from({ length: 40 }, (_, i) => 6 + i / 4), 8e5, 3e5, 1e4];
    const clip = histogramClip([...normal, ...anomalous], 9.7);
    expect(clip).toBeGreaterThan(9.7);
    expect(clip).toBeLessThan(30);
    const svg = scoreHistogramSvg({ normal, anomalous, threshold: 9.7 });
    expect(svg).toMatch(/axis clipped at [\d.]+; 3 higher scores in the last bar/);
    const counts = [...svg.matchAll(/<rect class="bar-[a-z]+"[^>]*><title>(\d+)<\/title>/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(counts).toBe(normal.length + anomalous.length);
    // Ordinary scores: no clipping.
    expect(histogramClip(normal, 5)).toBeUndefined();
    expect(scoreHistogramSvg({ normal, anomalous: anomalous.slice(0, 40), threshold: 7 })).not.toMatch(/clipped/);
  });
});
