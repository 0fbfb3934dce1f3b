import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../../inspection/test/fixtures/${name}`, import.meta.url));
}

export function readFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(name)));
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'residuum-runtime-node-'));
}

/** Seeded uniform [0,1) (mulberry32). */
export function testRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random 8-bit pixels, smooth enough to look like a part, written as PNG. */
export function randomPixels(width: number, height: number, channels: 1 | 3, seed: number): Uint8Array {
  const random = testRandom(seed);
  const pixels = new Uint8Array(width * height * channels);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(random() * 256);
  return pixels;
}

export async function writePng(path: string, pixels: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<void> {
  await sharp(Buffer.from(pixels), { raw: { width, height, channels } }).png().toFile(path);
}
