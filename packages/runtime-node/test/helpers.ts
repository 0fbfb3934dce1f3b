import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createSeededRandom as testRandom } from '@residuum/scoring';

/** mulberry32, the generator of the MC-Dropout masks. */
export { testRandom };

export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../../inspection/test/fixtures/${name}`, import.meta.url));
}

export function readFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(name)));
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'residuum-runtime-node-'));
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
