import { RUN_FILES } from '@residuum/train/run-folder';
import { mcDropoutSeed, type ModelCard } from '@residuum/scoring';
import type { CommandContext } from './context.js';
import { loadCardFrom, type LoadedCard } from './model-source.js';
import { displayPath, formatNumber } from '../util/format.js';
import { ExitCode, type ExitCodeValue } from '../util/exit-codes.js';

export interface ModelInfoOptions {
  json: boolean;
}

function shape(dims: ReadonlyArray<number | string>): string {
  return `[${dims.join(', ')}]`;
}

function params(entries: Record<string, number | string>): string {
  const parts = Object.entries(entries).map(([key, value]) => `${key}=${typeof value === 'number' ? formatNumber(value) : value}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/**
 * The preprocessing exactly as the runtimes apply it: channel order, what the 8-bit pixel is divided by,
 * and mean / std unrounded (Caffe-style backbones take BGR pixels in 0..255 minus a per-channel mean).
 */
export function describePreprocessing(p: ModelCard['preprocessing']): string {
  const bgr = p.channels === 3 && p.channelOrder === 'bgr';
  const channels = p.channels === 1 ? '1 channel (grey, BT.601 luma)' : bgr ? '3 channels in BGR order (channel 0 is blue)' : '3 channels (RGB)';
  const divisor = p.pixelDivisor ?? 255;
  const exact = (values: readonly number[]) => `[${values.map(String).join(', ')}]${bgr ? ' (B, G, R)' : ''}`;
  const value = divisor === 1 ? 'value = (pixel - mean[c]) / std[c], pixels 0..255 (divisor 1)' : `value = (pixel / ${divisor} - mean[c]) / std[c]`;
  return `${p.width}x${p.height}, ${channels}, resize ${p.resize} (${p.interpolation}), ${value}, mean ${exact(p.mean)}, std ${exact(p.std)}`;
}

/** The card as aligned "field  value" lines. */
export function formatModelCard(card: ModelCard, loaded?: Pick<LoadedCard, 'source' | 'kind' | 'onnx'>, cwd = process.cwd()): string {
  const p = card.preprocessing;
  const rows: Array<[string, string]> = [];
  rows.push(['model', `${card.name} (family ${card.family}, card schema v${card.schemaVersion})`]);
  if (card.description) rows.push(['description', card.description]);
  if (loaded) {
    const from = loaded.kind === 'onnx' ? 'ONNX metadata' : loaded.kind === 'run-folder' ? `run folder ${RUN_FILES.card}` : 'card JSON';
    rows.push(['source', `${displayPath(loaded.source, cwd)} (${from})`]);
  }
  rows.push(['input', `${card.input.name}: ${card.input.layout} float32 ${shape(card.input.shape)}`]);
  rows.push(['preprocessing', describePreprocessing(p)]);
  for (const [i, output] of card.outputs.entries()) {
    rows.push([i === 0 ? 'outputs' : '', `${output.name}: ${output.meaning} ${shape(output.shape)}${output.description ? ` - ${output.description}` : ''}`]);
  }
  const map = card.score.map;
  const mapText =
    `${map.kind}${map.kind === 'ssim' ? ` (window ${map.ssimWindowSize ?? 11}, sigma ${map.ssimSigma ?? 1.5})` : ''}` +
    `, channels ${map.channelReduction}` +
    (map.positionStandardization
      ? `, standardized per position (${map.positionStandardization.width}x${map.positionStandardization.height}, fitted on ${map.positionStandardization.fittedOn})`
      : '') +
    `, smoothing sigma ${formatNumber(map.smoothingSigma)}${map.smoothingAt === 'input' ? ' after upsampling to the input' : ''}`;
  const image = card.score.image;
  const imageText =
    image.kind === 'top-k-mean' ? `top-k mean (k = ${formatNumber(image.topKFraction ?? NaN)} of the pixels)` : image.kind;
  rows.push(['score', `map ${mapText}; image ${imageText}${image.kappa !== undefined ? `, kappa ${formatNumber(image.kappa)}` : ''}`]);
  const bank = card.family === 'patchcore'
    ? (card.extras?.patchcore as { bankSize?: number; dim?: number; patches?: number; layers?: string[]; localPooling?: string } | undefined)
    : undefined;
  if (bank) {
    rows.push([
      'memory bank',
      `${bank.bankSize ?? '?'} x ${bank.dim ?? '?'} patch features (greedy coreset of ${bank.patches ?? '?'} training patches, taps ${(bank.layers ?? []).join(' + ')}); the map is the nearest-neighbour distance, not a reconstruction error`,
    ]);
    // The card's own words (written by the trainer from the window it used).
    if (typeof bank.localPooling === 'string') rows.push(['local pooling', bank.localPooling]);
  }
  const t = card.threshold;
  rows.push([
    'threshold',
    `${formatNumber(t.value)} (${t.method}${params(t.params)}; fitted on ${t.fittedOn.count} scores: ${t.fittedOn.normal} normal, ${t.fittedOn.anomalous} anomalous, from ${t.fittedOn.source})`,
  ]);
  if (t.note) rows.push(['', `note: ${t.note}`]);
  const c = card.calibration;
  const quantiles = Object.entries(c.quantiles)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([q, v]) => `q${q} ${formatNumber(v)}`)
    .join(', ');
  rows.push([
    'calibration',
    `${c.count} normal scores: min ${formatNumber(c.min)}, max ${formatNumber(c.max)}, mean ${formatNumber(c.mean)}, std ${formatNumber(c.std)}${quantiles ? `; ${quantiles}` : ''}${c.pixelThreshold !== undefined ? `; pixel threshold ${formatNumber(c.pixelThreshold)}` : ''}`,
  ]);
  if (card.mcDropout) {
    rows.push([
      'MC-Dropout',
      `${card.mcDropout.samples} passes, mask seed ${mcDropoutSeed(card)}${card.mcDropout.seed === undefined ? ' (the default: the card has none)' : ''}; mask inputs ${card.mcDropout.maskInputs.map((m) => `${m.name} ${shape(m.shape)} rate ${m.rate}`).join(', ') || 'none'}`,
    ]);
  }
  const tr = card.training;
  rows.push([
    'training',
    `${tr.imageCount} images (${tr.dataDescription}), ${tr.epochs} epochs, seed ${tr.seed}, backend ${tr.backend}, loss ${tr.loss}`,
  ]);
  rows.push(['data fingerprint', tr.dataFingerprint]);
  if (tr.command) rows.push(['command', tr.command]);
  if (tr.interrupted) rows.push(['interrupted', tr.interrupted]);
  rows.push(['created', card.createdAt]);
  rows.push(['producer', `trainer ${card.producer.trainer ?? '-'}, converter ${card.producer.converter ?? '-'}`]);
  if (loaded?.onnx) {
    const o = loaded.onnx;
    const opsets = o.opsets.map((s) => `${s.domain || 'ai.onnx'} ${s.version}`).join(', ');
    rows.push(['onnx', `IR version ${o.irVersion}, opset ${opsets}, producer ${o.producerName || '-'}${o.producerVersion ? ` ${o.producerVersion}` : ''}`]);
    rows.push(['', `graph inputs ${o.inputs.map((i) => i.name).join(', ')}; outputs ${o.outputs.map((i) => i.name).join(', ')}`]);
  }
  if (card.extras && Object.keys(card.extras).length > 0) rows.push(['extras', JSON.stringify(card.extras)]);
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n') + '\n';
}

export async function runModelInfo(model: string, options: ModelInfoOptions, context: CommandContext): Promise<ExitCodeValue> {
  const loaded = await loadCardFrom(model, context.io.cwd);
  if (options.json) context.io.stdout(JSON.stringify(loaded.card, null, 2) + '\n');
  else context.io.stdout(formatModelCard(loaded.card, loaded, context.io.cwd));
  return ExitCode.ok;
}
