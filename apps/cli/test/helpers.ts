import { mkdtemp, rm } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/cli.js';
import { createCapturingIo } from '../src/util/io.js';
import { createSeededRandom as seededRandom } from '@residuum/scoring';

/** mulberry32, the generator of the MC-Dropout masks. */
export { seededRandom };

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURES = join(REPO_ROOT, 'packages/inspection/test/fixtures');
export const TINY_AE = join(FIXTURES, 'tiny-ae.onnx');

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process with captured output. */
export async function residuum(args: string[], cwd: string = REPO_ROOT): Promise<CliRun> {
  const io = createCapturingIo(cwd);
  const code = await runCli(args, io);
  return { code, out: io.out, err: io.err };
}

export async function makeTempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `residuum-cli-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A minimal 8-bit grey PNG encoder for test images, independent of the code under test
 * (filter type 0 per row, zlib from node).
 */
export function encodeGreyPng(pixels: Uint8Array, width: number, height: number): Buffer {
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y += 1) raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** A smooth seeded 16x16 "good part", and a defective one with a bright square. */
export function syntheticPart(seed: number, defective: boolean, size = 16): Uint8Array {
  const random = seededRandom(seed);
  const pixels = new Uint8Array(size * size);
  const phase = random() * Math.PI;
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      pixels[y * size + x] = Math.round(110 + 30 * Math.sin(phase + (x + y) / 5) + 8 * random());
    }
  }
  if (defective) {
    const x0 = 3 + Math.floor(random() * 6);
    const y0 = 3 + Math.floor(random() * 6);
    for (let y = y0; y < y0 + 5; y += 1) for (let x = x0; x < x0 + 5; x += 1) pixels[y * size + x] = 250;
  }
  return pixels;
}
