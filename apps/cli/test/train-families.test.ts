import { describe, expect, it } from 'vitest';
import { residuum } from './helpers.js';

const base = ['train', '--data', 'd', '--normal-dir', 'good', '--size', '32', '--channels', '1', '--epochs', '1', '--out', 'r'];

describe('residuum train for the DFR and f-AnoGAN families', () => {
  it('lists dfr and fanogan among the families', async () => {
    const run = await residuum(['train', '--help']);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/"dfr"/);
    expect(run.out).toMatch(/"fanogan"/);
  });

  it.each([
    ['--workers with dfr', ['--model', 'dfr', '--workers', '2'], /--workers does not apply to --model dfr/],
    ['--loss with fanogan', ['--model', 'fanogan', '--loss', 'ssim'], /--loss does not apply to --model fanogan/],
    ['--max-train-images with cae', ['--model', 'cae', '--max-train-images', '10'], /--max-train-images applies to --model fanogan only/],
  ])('rejects %s with one clear line', async (_name, extra, message) => {
    const run = await residuum([...base, ...extra]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(message);
    expect(run.err).not.toMatch(/\n\s+at /);
  });

  it('reports a missing dataset folder for dfr as a usage error', async () => {
    const run = await residuum([...base.map((a) => (a === 'd' ? '/nonexistent/residuum-data' : a)), '--model', 'dfr', '--backend', 'cpu']);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/nonexistent\/residuum-data/);
  });
});
