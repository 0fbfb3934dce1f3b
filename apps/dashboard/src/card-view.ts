/** The model card as the quality engineer needs it: what the model is, what it expects, how it judges, where it runs. */
import type { WebInspector } from '@residuum/runtime-web';
import { mcDropoutSeed, type ModelCard } from '@residuum/scoring';

export interface ModelIndex {
  default: string;
  models: string[];
  samples: string[];
  /** Set when the app serves the test fixture because models/ has no trained model. */
  note?: string;
}

export function describeCard(inspector: WebInspector, label: string, index: ModelIndex): HTMLElement {
  const card = inspector.card;
  const prep = card.preprocessing;
  const section = document.createElement('div');
  const title = document.createElement('h2');
  title.textContent = card.name;
  section.append(title);
  if (index.note && label === index.default) {
    const note = document.createElement('p');
    note.className = 'note';
    note.dataset.role = 'fixture-note';
    note.textContent = index.note;
    section.append(note);
  }
  const rows: Array<[string, string, string]> = [
    ['file', label, 'model-file'],
    ['family', card.family, 'family'],
    ['input', `${card.input.name} ${card.input.shape.join('×')} (${prep.channels === 1 ? 'grey' : 'RGB'}, ${prep.resize}, ${prep.interpolation})`, 'input'],
    ['score', scoreText(card), 'score'],
    ['threshold', `${card.threshold.value.toPrecision(4)} (${card.threshold.method}; fitted on ${card.threshold.fittedOn.count} scores: ${card.threshold.fittedOn.source})`, 'threshold'],
    ['provider', providerText(inspector), 'provider'],
    ['attempts', inspector.attempts.map((a) => `${a.provider}: ${a.ok ? 'ok' : `failed (${a.reason ?? 'no reason'})`}`).join(' → '), 'attempts'],
    ['trained', `${card.training.imageCount} images, ${card.training.epochs} epochs, ${card.training.backend} (${card.createdAt.slice(0, 10)})`, 'training'],
  ];
  const localPooling = card.family === 'patchcore' ? (card.extras?.patchcore as { localPooling?: unknown } | undefined)?.localPooling : undefined;
  // The card's own words: a PatchCore file states the window its taps were averaged over (3x3 by default, a training option).
  if (typeof localPooling === 'string') rows.splice(4, 0, ['local pooling', localPooling, 'local-pooling']);
  if (card.mcDropout) rows.push(['MC-Dropout', `${card.mcDropout.samples} passes, ${card.mcDropout.maskInputs.length} dropout layer(s), mask seed ${mcDropoutSeed(card)}`, 'mc']);
  const list = document.createElement('dl');
  for (const [term, value, role] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dd.dataset.role = `card-${role}`;
    list.append(dt, dd);
  }
  section.append(list);
  if (card.description) {
    const description = document.createElement('p');
    description.className = 'description';
    description.textContent = card.description;
    section.append(description);
  }
  return section;
}

function providerText(inspector: WebInspector): string {
  if (inspector.provider === 'webgpu') {
    const adapter = inspector.adapter;
    const name = adapter ? [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' ') : '';
    return `WebGPU${name ? ` (${name})` : ''}${adapter?.isFallbackAdapter ? ', software fallback adapter' : ''}`;
  }
  return `WASM, ${inspector.wasmThreads} thread(s)${globalThis.crossOriginIsolated ? '' : ' (page not cross-origin isolated: no threads)'}`;
}

/**
 * How the card turns outputs into a score, per family: a residual of the reconstruction (CAE, ...),
 * a map the model outputs itself (DFR: feature error on the feature grid, upsampled; PatchCore: distance
 * to the nearest memory-bank patch, upsampled then smoothed), and f-AnoGAN's
 * kappa-weighted discriminator feature residual added to the map's image score.
 */
export function scoreText(card: ModelCard): string {
  const { map, image } = card.score;
  const [, channels, height, width] = card.input.shape;
  let text: string;
  if (map.kind === 'model-output') {
    const output = card.outputs.find((o) => o.meaning === 'feature-error-map');
    const [mapHeight, mapWidth] = (output?.shape ?? []).slice(-2);
    const grid = typeof mapHeight === 'number' && typeof mapWidth === 'number' ? `, ${mapHeight}×${mapWidth}` : '';
    const upsampled = grid && (mapHeight !== height || mapWidth !== width) ? `, upsampled to ${height}×${width}` : '';
    const what = card.family === 'patchcore' ? 'nearest-neighbour distance map (memory bank, no reconstruction)' : 'feature error map';
    text = `${what} output by the model ('${output?.name ?? '?'}'${grid}${upsampled})`;
  } else {
    text = `${map.kind === 'ssim' ? '1 - SSIM' : map.kind} residual of the reconstruction` + (channels > 1 ? `, ${map.channelReduction} over channels` : '');
  }
  if (map.smoothingSigma > 0) text += map.smoothingAt === 'input' ? `, smoothed after upsampling (sigma ${map.smoothingSigma} px)` : `, smoothed (sigma ${map.smoothingSigma})`;
  const pixels = image.kind === 'top-k-mean' ? `mean of the top ${formatFraction(image.topKFraction ?? 0)} of the map` : `${image.kind} of the map`;
  text += `; image = ${pixels}`;
  if (image.kappa !== undefined) {
    const residual = card.outputs.find((o) => o.meaning === 'discriminator-feature-residual');
    text += ` + ${image.kappa} × discriminator feature residual ('${residual?.name ?? '?'}')`;
  }
  return text;
}

function formatFraction(fraction: number): string {
  return `${Number((fraction * 100).toPrecision(3))} %`;
}
