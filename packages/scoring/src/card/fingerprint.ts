/**
 * Image-set fingerprints of the model card (training data, calibration sets): sha256 over the lines
 * "relPath \t byte size \t sha256(content)" sorted by relPath. Isomorphic (Web Crypto), so the CLI,
 * the trainer and the dashboard record the same value for the same files.
 */

/** How a card's image-set description explains its fingerprint. */
export const IMAGE_SET_FINGERPRINT_RULE = "fingerprint: sha256 over each file's path relative to that folder, size and content sha256";

/** One file of a fingerprinted set: its path relative to the set's folder ('/'-separated) and its bytes. */
export interface FingerprintEntry {
  relPath: string;
  bytes: Uint8Array;
}

function subtle(): SubtleCrypto {
  const crypto = (globalThis as { crypto?: Crypto }).crypto;
  if (!crypto?.subtle) throw new Error('fingerprint: Web Crypto (crypto.subtle) is not available in this environment');
  return crypto.subtle;
}

function hex(digest: ArrayBuffer): string {
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** sha256 of bytes, lower-case hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return hex(await subtle().digest('SHA-256', bytes as BufferSource));
}

/** The fingerprint line of one file (its content hashed here). */
export async function fingerprintLine(entry: FingerprintEntry): Promise<string> {
  return `${entry.relPath}\t${entry.bytes.length}\t${await sha256Hex(entry.bytes)}\n`;
}

/** The set's fingerprint from its files' lines (any order; relPaths must be distinct). */
export async function fingerprintFromLines(lines: readonly string[]): Promise<string> {
  if (lines.length === 0) throw new Error('fingerprint: no files given');
  const keyed = lines.map((line) => ({ relPath: line.slice(0, line.indexOf('\t')), line }));
  keyed.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  for (let i = 1; i < keyed.length; i++) {
    if (keyed[i].relPath === keyed[i - 1].relPath) throw new Error(`fingerprint: ${keyed[i].relPath} is listed twice`);
  }
  return sha256Hex(new TextEncoder().encode(keyed.map((k) => k.line).join('')));
}

/** The fingerprint of a set of files given with their bytes. */
export async function fingerprintEntries(entries: readonly FingerprintEntry[]): Promise<string> {
  return fingerprintFromLines(await Promise.all(entries.map(fingerprintLine)));
}

/**
 * Paths relative to the deepest folder holding every file, so that a set's fingerprint does not depend
 * on how it was named (a folder, a list file, a dropped folder). `separator`: the paths' own ('/' or '\\');
 * relPaths come back '/'-separated.
 */
export function relativeToCommonFolder(paths: readonly string[], separator = '/'): { folder: string; relPaths: string[] } {
  if (paths.length === 0) throw new Error('relativeToCommonFolder: no paths given');
  const folderParts = (path: string): string[] => path.split(separator).slice(0, -1);
  let common = folderParts(paths[0]);
  for (const path of paths) {
    const parts = folderParts(path);
    let i = 0;
    while (i < common.length && i < parts.length && common[i] === parts[i]) i++;
    common = common.slice(0, i);
  }
  const relPaths = paths.map((path) => path.split(separator).slice(common.length).join('/'));
  return { folder: common.join(separator) || (paths[0].startsWith(separator) ? separator : ''), relPaths };
}
