/**
 * `residuum train --backbone NAME`: which ONNX backbones each feature family takes, and the one
 * place that turns a name into what the trainer needs (an OnnxBackboneSpec: the cached file, the
 * taps the family reads, the backbone's preprocessing). The file comes from the converter's cache
 * (getBackbone: fetched, verified and converted on first use, saying so on stderr); the trainer
 * never imports the converter.
 *
 * A family gains a backbone by one entry in BACKBONE_TAPS (its taps of that backbone's outputs).
 */
import { BackboneError, BACKBONES, getBackbone } from '@residuum/onnx-converter';
import { PATCHCORE_DEFAULTS, RESNET50_DFR_TAPS, type OnnxBackboneSpec } from '@residuum/train';
import { CliError } from '../util/errors.js';
import { displayPath } from '../util/format.js';
import type { CliIo } from '../util/io.js';

/** Per family, per backbone name: the graph outputs (taps) it trains on, finest first. */
export const BACKBONE_TAPS: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  // The seed's multi-layer idea: layer1-layer3 (strides 4, 8, 16).
  dfr: { resnet50: RESNET50_DFR_TAPS },
  // PatchCore's middle stages: layer2 + layer3 (strides 8, 16).
  patchcore: { resnet50: PATCHCORE_DEFAULTS.layers },
};

/** What a family trains on without --backbone (for messages). */
const DEFAULT_BACKBONE_TEXT: Readonly<Record<string, string>> = {
  dfr: 'MobileNet v1 0.75, shipped in the repository',
  patchcore: 'resnet50',
};

/** The backbone names `--model family` accepts ([] when the family takes no --backbone). */
export function backboneNames(family: string): string[] {
  return Object.keys(BACKBONE_TAPS[family] ?? {});
}

/**
 * Checks `--backbone NAME` for `--model family` without touching the cache (before any work):
 * the family must take a backbone, the name must be known, the input must be RGB.
 */
export function checkBackboneOption(family: string, name: string, channels: 1 | 3): void {
  const names = backboneNames(family);
  const withBackbone = Object.keys(BACKBONE_TAPS).filter((f) => backboneNames(f).length > 0);
  if (names.length === 0) throw new CliError(`--backbone applies to --model ${withBackbone.join(' or ')} only, not to --model ${family}`);
  if (!names.includes(name)) {
    const fallback = DEFAULT_BACKBONE_TEXT[family] ? `; without --backbone: ${DEFAULT_BACKBONE_TEXT[family]}` : '';
    throw new CliError(`unknown backbone '${name}' for --model ${family} (known: ${names.join(', ')}${fallback})`);
  }
  if (!BACKBONES[name]) throw new CliError(`backbone '${name}' has no definition in @residuum/onnx-converter (known there: ${Object.keys(BACKBONES).join(', ')})`);
  if (BACKBONES[name].preprocessing.channels !== channels) {
    throw new CliError(`--backbone ${name} takes ${BACKBONES[name].preprocessing.channels === 3 ? 'RGB' : 'grey'} input: use --channels ${BACKBONES[name].preprocessing.channels} (grey images are replicated to RGB when decoded)`);
  }
}

export interface ResolveBackboneOptions {
  /** Square model input size: the backbone is converted at exactly this size. */
  size: number;
  io: CliIo;
  /** No "using the cached file" line (progress of a first-use fetch is always shown). */
  quiet?: boolean;
  /** Cache folder (default: the converter's backboneCacheDir(), $RESIDUUM_BACKBONE_CACHE first). */
  cacheDir?: string;
}

/**
 * `--backbone NAME` for `--model family` -> the spec the trainer runs in onnxruntime-node. Takes the
 * cached file (sha256 checked) or fetches + converts it once, with the progress on stderr; an
 * offline machine gets the converter's message naming the file to copy.
 */
export async function resolveOnnxBackbone(family: string, name: string, options: ResolveBackboneOptions): Promise<OnnxBackboneSpec> {
  checkBackboneOption(family, name, 3);
  const { io } = options;
  let announced = false;
  let result;
  try {
    result = await getBackbone(name, {
      size: options.size,
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      onProgress: (message) => {
        if (!announced) io.stderr(`backbone ${name} at ${options.size} px is not in the cache yet: preparing it once (later runs reuse it)\n`);
        announced = true;
        io.stderr(`backbone: ${message}\n`);
      },
    });
  } catch (error) {
    if (error instanceof BackboneError) throw new CliError(`--backbone ${name}: ${error.message}`, undefined, { cause: error });
    throw error;
  }
  if (result.fromCache && !options.quiet) io.stderr(`backbone ${name}: ${displayPath(result.onnxPath, io.cwd)} (cached, sha256 checked)\n`);
  const { width: _width, height: _height, ...preprocessing } = result.manifest.preprocessing;
  const outputs = result.manifest.outputs.map((o) => o.name);
  const taps = [...BACKBONE_TAPS[family][name]];
  const missing = taps.filter((t) => !outputs.includes(t));
  if (missing.length > 0) throw new CliError(`--backbone ${name}: the cached ${result.onnxPath} has no output ${missing.join(', ')} (outputs: ${outputs.join(', ')}); rebuild it with \`residuum backbone get ${name} --size ${options.size} --force\``);
  return { onnxPath: result.onnxPath, taps, preprocessing, name };
}
