import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, describeError } from '../src/util/errors.js';
import { ExitCode } from '../src/util/exit-codes.js';
import { prepareMapsFolder, prepareOutputFile, writeFileAtomic } from '../src/output/index.js';
import { collectImages } from '../src/util/collect-images.js';
import { formatNumber } from '../src/util/format.js';
import { makeTempDir } from './helpers.js';

class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

describe('describeError', () => {
  it('keeps CLI and library errors to one line with exit 2', () => {
    expect(describeError(new CliError('bad thing'))).toMatchObject({ line: 'bad thing', exitCode: ExitCode.usage });
    const multi = describeError(new ImageDecodeError('a.png: truncated\n  at byte 40\n'));
    expect(multi).toMatchObject({ line: 'a.png: truncated; at byte 40', exitCode: ExitCode.usage });
    expect(multi.detail).toContain('ImageDecodeError');
  });

  it('turns file system errors into the path and the reason', () => {
    const error = Object.assign(new Error("ENOENT: no such file or directory, open 'x.json'"), { code: 'ENOENT', path: 'x.json' });
    expect(describeError(error)).toMatchObject({ line: 'x.json: no such file or directory', exitCode: ExitCode.usage });
  });

  it('treats plain library errors as input errors and programming errors as internal', () => {
    expect(describeError(new RangeError('--digit must be 0-9'))).toMatchObject({ line: '--digit must be 0-9', exitCode: ExitCode.usage });
    const bug = describeError(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(bug.exitCode).toBe(ExitCode.internal);
    expect(bug.line).toMatch(/^unexpected TypeError: .* \(run again with --verbose for the stack\)$/);
    const nodeInternal = Object.assign(new Error('Cannot find module x'), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(describeError(nodeInternal).exitCode).toBe(ExitCode.internal);
    expect(describeError('a string').exitCode).toBe(ExitCode.internal);
  });

  it('includes causes in the verbose detail', () => {
    const error = new CliError('outer', ExitCode.usage, { cause: new Error('inner reason') });
    expect(describeError(error).detail).toMatch(/outer[\s\S]*Caused by: Error: inner reason/);
  });
});

describe('output files and folders', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  beforeAll(async () => {
    tmp = await makeTempDir('outputs');
  });
  afterAll(async () => tmp.cleanup());

  it('creates parent folders and replaces only its own files', async () => {
    const json = { cwd: tmp.dir, force: false, kind: 'inspect-json' } as const;
    const { path } = await prepareOutputFile('deep/er/result.json', '--json', json);
    expect(path).toBe(join(tmp.dir, 'deep/er/result.json'));
    await writeFileAtomic(path, '{\n  "generator": "residuum 0.1.0",\n  "command": "inspect"\n}\n');
    await expect(prepareOutputFile('deep/er/result.json', '--json', json)).resolves.toMatchObject({ path, replaces: 'an inspect result (JSON)' });
    await writeFile(join(tmp.dir, 'report.html'), '<html><body>someone else</body></html>');
    const report = { cwd: tmp.dir, force: false, kind: 'report-html' } as const;
    await expect(prepareOutputFile('report.html', '--report', report)).rejects.toThrow(/holds a file that residuum did not write; refusing to replace it/);
    await expect(prepareOutputFile('report.html', '--report', { ...report, force: true })).resolves.toMatchObject({ path: join(tmp.dir, 'report.html') });
    await expect(prepareOutputFile('deep', '--json', { ...json, force: true })).rejects.toThrow(/--json deep: is a folder/);
    await expect(prepareOutputFile('deep/er/result.json/x.json', '--json', json)).rejects.toThrow(/is a file, not a folder/);
  });

  it('marks heatmap folders so that a second run may reuse them', async () => {
    const { path: dir } = await prepareMapsFolder('maps', '--maps', { cwd: tmp.dir, force: false });
    await writeFile(join(dir, '.residuum-maps'), '{"generator": "residuum", "maps": ["a.png"]}');
    await writeFile(join(dir, 'a.png'), 'x');
    await expect(prepareMapsFolder('maps', '--maps', { cwd: tmp.dir, force: false })).resolves.toMatchObject({ path: dir, previousMaps: ['a.png'] });
    await mkdir(join(tmp.dir, 'photos'));
    await writeFile(join(tmp.dir, 'photos', 'holiday.png'), 'x');
    await expect(prepareMapsFolder('photos', '--maps', { cwd: tmp.dir, force: false })).rejects.toThrow(/not made by residuum/);
    await expect(prepareMapsFolder('photos/holiday.png', '--maps', { cwd: tmp.dir, force: true })).rejects.toThrow(/not a folder/);
    expect(await readFile(join(tmp.dir, 'photos', 'holiday.png'), 'utf8')).toBe('x');
  });

  it('collects images recursively, in order, once each, and lists the rest', async () => {
    await mkdir(join(tmp.dir, 'imgs', 'b'), { recursive: true });
    for (const name of ['imgs/z.PNG', 'imgs/a.jpg', 'imgs/b/c.webp', 'imgs/b/readme.md']) await writeFile(join(tmp.dir, name), 'x');
    const collected = await collectImages(['imgs', 'imgs/a.jpg', 'gone.png', 'imgs/b/readme.md'], tmp.dir);
    expect(collected.images).toEqual(['imgs/a.jpg', 'imgs/b/c.webp', 'imgs/z.PNG', 'imgs/b/readme.md'].map((p) => join(tmp.dir, p)));
    expect(collected.skipped).toEqual([{ path: join(tmp.dir, 'imgs/b/readme.md'), reason: 'not an image extension' }]);
    expect(collected.missing).toEqual([{ path: join(tmp.dir, 'gone.png'), reason: 'no such file or directory' }]);
  });
});

describe('formatNumber', () => {
  it('shows 4 significant digits, exponents for tiny and huge values', () => {
    expect(formatNumber(0.0123456)).toBe('0.01235');
    expect(formatNumber(0.00001234)).toBe('1.234e-5');
    expect(formatNumber(123456789)).toBe('1.235e+8');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(null)).toBe('n/a');
    expect(formatNumber(Number.NaN)).toBe('n/a');
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('inf');
  });
});
