import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fingerprintEntries, fingerprintFromLines, relativeToCommonFolder, sha256Hex } from '../src/index.js';

const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('image-set fingerprints (Web Crypto)', () => {
  it('sha256Hex equals node:crypto', async () => {
    const bytes = new Uint8Array(1000).map((_, i) => (i * 31) % 256);
    await expect(sha256Hex(bytes)).resolves.toBe(sha(bytes));
    await expect(sha256Hex(new Uint8Array(0))).resolves.toBe(sha(new Uint8Array(0)));
  });

  it('hashes the lines "relPath, size, sha256" sorted by relPath, whatever order the files come in', async () => {
    const a = new TextEncoder().encode('first');
    const b = new TextEncoder().encode('second file');
    const expected = sha(`a/x.png\t${a.length}\t${sha(a)}\nb.png\t${b.length}\t${sha(b)}\n`);
    await expect(fingerprintEntries([{ relPath: 'b.png', bytes: b }, { relPath: 'a/x.png', bytes: a }])).resolves.toBe(expected);
    await expect(fingerprintEntries([{ relPath: 'a/x.png', bytes: b }, { relPath: 'b.png', bytes: a }])).resolves.not.toBe(expected);
    await expect(fingerprintEntries([{ relPath: 'b.png', bytes: a }, { relPath: 'b.png', bytes: b }])).rejects.toThrow(/b\.png is listed twice/);
    await expect(fingerprintFromLines([])).rejects.toThrow(/no files/);
  });

  it('makes paths relative to the deepest folder holding every file', () => {
    expect(relativeToCommonFolder(['/d/set/ok/a.png', '/d/set/ok/sub/b.png'])).toEqual({ folder: '/d/set/ok', relPaths: ['a.png', 'sub/b.png'] });
    expect(relativeToCommonFolder(['/d/a.png', '/e/b.png'])).toEqual({ folder: '/', relPaths: ['d/a.png', 'e/b.png'] });
    expect(relativeToCommonFolder(['ok/a.png', 'crack/b.png'])).toEqual({ folder: '', relPaths: ['ok/a.png', 'crack/b.png'] });
    expect(relativeToCommonFolder(['C:\\set\\ok\\a.png', 'C:\\set\\b.png'], '\\')).toEqual({ folder: 'C:\\set', relPaths: ['ok/a.png', 'b.png'] });
    expect(() => relativeToCommonFolder([])).toThrow(/no paths/);
  });
});
