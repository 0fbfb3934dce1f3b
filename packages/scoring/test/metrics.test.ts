import { describe, expect, it } from 'vitest';
import {
  aupro,
  auroc,
  averagePrecision,
  confusionAtThreshold,
  f1Max,
  labelConnectedComponents,
  pixelAuroc,
  prCurve,
  proCurve,
  rocCurve,
  type SegmentationSample,
} from '../src/index.js';
import { gaussian, loadReference, seededRandom } from './helpers.js';

const reference = loadReference();

function samplesOf(fixture: (typeof reference.pixel)[number]): SegmentationSample[] {
  return fixture.maps.map((m, k) => ({ map: Float32Array.from(m), mask: Uint8Array.from(fixture.masks[k]), width: fixture.width, height: fixture.height }));
}

describe('binary metrics against sklearn', () => {
  for (const fx of reference.binary) {
    it(`${fx.name}: AUROC, ROC curve, AP, PR points, F1-max, confusion`, () => {
      expect(Math.abs(auroc(fx.scores, fx.labels) - fx.auroc)).toBeLessThan(1e-6);
      expect(Math.abs(averagePrecision(fx.scores, fx.labels) - fx.averagePrecision)).toBeLessThan(1e-6);
      const roc = rocCurve(fx.scores, fx.labels);
      expect(roc.fpr[0]).toBe(0);
      expect(Array.from(roc.thresholds.slice(1))).toEqual(fx.roc.thresholds);
      fx.roc.fpr.forEach((v, i) => expect(roc.fpr[i + 1]).toBeCloseTo(v, 12));
      fx.roc.tpr.forEach((v, i) => expect(roc.tpr[i + 1]).toBeCloseTo(v, 12));
      // sklearn lists PR points by ascending threshold (truncated at full recall): look ours up by threshold.
      const pr = prCurve(fx.scores, fx.labels);
      const byThreshold = new Map(Array.from(pr.thresholds, (t, i) => [t, i]));
      fx.pr.thresholds.forEach((t, i) => {
        const k = byThreshold.get(t);
        expect(k).toBeDefined();
        expect(pr.precision[k!]).toBeCloseTo(fx.pr.precision[i], 12);
        expect(pr.recall[k!]).toBeCloseTo(fx.pr.recall[i], 12);
      });
      const best = f1Max(fx.scores, fx.labels);
      expect(best.f1).toBeCloseTo(fx.f1Max.f1, 12);
      expect(confusionAtThreshold(fx.scores, fx.labels, best.threshold).f1).toBeCloseTo(fx.f1Max.f1, 12);
      for (const at of fx.atThreshold) {
        const c = confusionAtThreshold(fx.scores, fx.labels, at.threshold);
        expect([c.tp, c.fp, c.tn, c.fn]).toEqual([at.tp, at.fp, at.tn, at.fn]);
        expect(c.precision).toBeCloseTo(at.precision, 12);
        expect(c.recall).toBeCloseTo(at.recall, 12);
        expect(c.f1).toBeCloseTo(at.f1, 12);
        expect(c.accuracy).toBeCloseTo(at.accuracy, 12);
      }
    });
  }
});

describe('pixel metrics against sklearn and an MVTec-style Python AUPRO', () => {
  for (const fx of reference.pixel) {
    it(`${fx.name}: pixel AUROC, AUPRO@0.3, AUPRO@1, PRO curve head`, () => {
      const samples = samplesOf(fx);
      expect(Math.abs(pixelAuroc(samples) - fx.pixelAuroc)).toBeLessThan(1e-6);
      expect(Math.abs(aupro(samples) - fx.aupro)).toBeLessThan(1e-3);
      expect(Math.abs(aupro(samples, 1) - fx.auproFull)).toBeLessThan(1e-3);
      const curve = proCurve(samples);
      const values = new Set(samples.flatMap((s) => Array.from(s.map)));
      for (let i = 1; i < Math.min(curve.thresholds.length, 200); i++) expect(values.has(curve.thresholds[i])).toBe(true);
      expect(curve.thresholds[1]).toBe(Math.max(...values));
      fx.proCurveHead.fpr.forEach((v, i) => expect(curve.fpr[i]).toBeCloseTo(v, 9));
      fx.proCurveHead.pro.forEach((v, i) => expect(curve.pro[i]).toBeCloseTo(v, 9));
      const regions = samples.reduce((n, s) => n + labelConnectedComponents(s.mask, s.width, s.height).count, 0);
      expect(regions).toBe(fx.regions);
    });
  }

  it('pixel AUROC agrees with the image-level AUROC on the same pixels (radix path vs comparator path)', () => {
    const rand = seededRandom(5);
    const w = 64;
    const h = 48;
    const samples: SegmentationSample[] = [];
    const all: number[] = [];
    const labels: number[] = [];
    for (let k = 0; k < 3; k++) {
      const mask = new Uint8Array(w * h).map(() => (rand() < 0.1 ? 1 : 0));
      const map = new Float32Array(w * h).map((_, i) => Math.round((gaussian(rand) + mask[i]) * 8) / 8);
      samples.push({ map, mask, width: w, height: h });
      all.push(...map);
      labels.push(...mask);
    }
    expect(pixelAuroc(samples)).toBeCloseTo(auroc(all, labels), 12);
  });

  it('counts 8-connected regions (diagonal neighbours join)', () => {
    // Two diagonal pairs: 4-connectivity would give 4 regions.
    const mask = Uint8Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0]);
    const { labels, count } = labelConnectedComponents(mask, 4, 4);
    expect(count).toBe(2);
    expect(labels[0]).toBe(labels[5]);
    expect(labels[11]).toBe(labels[14]);
    expect(labels[0]).not.toBe(labels[11]);
  });

  it('hand-computed PRO: one region half found at FPR 0 gives the expected area', () => {
    // 1 region of 2 pixels (scores 3 and 1), 2 normal pixels (scores 2 and 0).
    const sample: SegmentationSample = { map: Float32Array.from([3, 1, 2, 0]), mask: [1, 1, 0, 0], width: 4, height: 1 };
    const curve = proCurve([sample]);
    expect(Array.from(curve.fpr)).toEqual([0, 0, 0.5, 0.5, 1]);
    expect(Array.from(curve.pro)).toEqual([0, 0.5, 0.5, 1, 1]);
    // Up to FPR 0.3: y = 0.5 from 0 to 0.3 -> area 0.15, normalised 0.5.
    expect(aupro([sample], 0.3)).toBeCloseTo(0.5, 12);
    expect(aupro([sample], 1)).toBeCloseTo(0.5 * 0.5 + 0.5 * 1, 12);
  });

  it('errors clearly for masks without regions, size mismatches and NaN', () => {
    const map = new Float32Array(4);
    expect(() => aupro([{ map, mask: [0, 0, 0, 0], width: 2, height: 2 }])).toThrow(/no anomalous region/);
    expect(() => aupro([{ map, mask: [1, 1, 1, 1], width: 2, height: 2 }])).toThrow(/no normal pixel/);
    expect(() => pixelAuroc([{ map, mask: [0, 0, 0], width: 2, height: 2 }])).toThrow(/mask has 3 values/);
    expect(() => pixelAuroc([{ map: Float32Array.from([0, NaN, 0, 0]), mask: [0, 1, 0, 0], width: 2, height: 2 }])).toThrow(/map\[1\] is NaN/);
    expect(() => pixelAuroc([{ map, mask: [0, 0, 0, 0], width: 2, height: 2 }])).toThrow(/only one class/);
  });
});

describe('metric properties (seeded random)', () => {
  const rand = seededRandom(42);
  const cases = Array.from({ length: 20 }, (_, c) => {
    const n = 20 + Math.floor(rand() * 200);
    const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : rand() < 0.4 ? 1 : 0));
    const scores = labels.map((y) => Math.round((gaussian(rand) + y * (c % 3)) * 4) / 4);
    return { scores, labels };
  });

  it('AUROC and AP are unchanged under strictly increasing transforms', () => {
    for (const { scores, labels } of cases) {
      const transformed = scores.map((s) => Math.exp(2 * s) + 3);
      expect(auroc(transformed, labels)).toBeCloseTo(auroc(scores, labels), 12);
      expect(averagePrecision(transformed, labels)).toBeCloseTo(averagePrecision(scores, labels), 12);
    }
  });

  it('flipping the labels gives 1 - AUROC, negating the scores too', () => {
    for (const { scores, labels } of cases) {
      const a = auroc(scores, labels);
      expect(auroc(scores, labels.map((y) => 1 - y))).toBeCloseTo(1 - a, 12);
      expect(auroc(scores.map((s) => -s), labels)).toBeCloseTo(1 - a, 12);
    }
  });

  it('perfect separation gives AUROC = AP = F1max = 1, all-equal scores give AUROC 0.5', () => {
    for (const { labels } of cases) {
      const perfect = labels.map((y) => (y ? 10 + rand() : rand()));
      expect(auroc(perfect, labels)).toBe(1);
      expect(averagePrecision(perfect, labels)).toBe(1);
      expect(f1Max(perfect, labels).f1).toBe(1);
      expect(auroc(labels.map(() => 0.3), labels)).toBe(0.5);
    }
  });

  it('AUROC equals the pairwise Mann-Whitney probability with ties counted 1/2', () => {
    for (const { scores, labels } of cases.slice(0, 5)) {
      let wins = 0;
      let pairs = 0;
      scores.forEach((sp, i) => {
        if (!labels[i]) return;
        scores.forEach((sn, j) => {
          if (labels[j]) return;
          pairs++;
          wins += sp > sn ? 1 : sp === sn ? 0.5 : 0;
        });
      });
      expect(auroc(scores, labels)).toBeCloseTo(wins / pairs, 12);
    }
  });

  it('rejects one-class, NaN and mismatched inputs with clear errors', () => {
    expect(() => auroc([1, 2], [0, 0])).toThrow(/only one class/);
    expect(() => auroc([1, NaN], [0, 1])).toThrow(/scores\[1\] is NaN/);
    expect(() => auroc([1, 2], [0])).toThrow(/labels has 1 entries but there are 2 scores/);
    expect(() => auroc([1, 2], [0, 2])).toThrow(/labels\[1\] is 2/);
    expect(() => averagePrecision([1, 2], [0, 0])).toThrow(/without anomalous samples/);
    expect(() => f1Max([], [])).toThrow(/scores is empty/);
  });

  it('confusion zero-division cases are 0 (nothing predicted anomalous)', () => {
    const c = confusionAtThreshold([0.1, 0.2], [0, 1], 5);
    expect([c.tp, c.fp, c.tn, c.fn, c.precision, c.recall, c.f1, c.accuracy]).toEqual([0, 0, 1, 1, 0, 0, 0, 0.5]);
  });
});
