import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, TINY_AE, makeTempDir, residuum } from './helpers.js';

const STACK_LINE = /^\s+at /m;

describe('residuum --help / --version', () => {
  it('lists every command and the exit codes', async () => {
    const run = await residuum(['--help']);
    expect(run.code).toBe(0);
    for (const command of ['inspect', 'evaluate', 'model-info', 'train', 'export']) expect(run.out).toContain(command);
    expect(run.out).toMatch(/Exit codes:[\s\S]*0\s+success[\s\S]*1\s+inspect: at least one part anomalous[\s\S]*2\s+usage[\s\S]*3\s+some images could not be read/);
    expect(run.out).toContain('Examples:');
  });

  it('gives each command its own help with examples', async () => {
    for (const command of ['inspect', 'evaluate', 'model-info', 'train', 'export']) {
      const run = await residuum([command, '--help']);
      expect(run.code, command).toBe(0);
      expect(run.out, command).toContain(`Usage: residuum ${command}`);
      expect(run.out, command).toContain('Examples:');
    }
  });

  it('prints the package version', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const run = await residuum(['--version']);
    expect(run.code).toBe(0);
    expect(run.out.trim()).toBe(pkg.version);
  });

  it('shows the help and exits 2 without a command', async () => {
    const run = await residuum([]);
    expect(run.code).toBe(2);
    expect(run.err).toContain('Usage: residuum');
  });
});

describe('usage errors exit 2 with one clear line', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['missing model argument', ['inspect'], /missing required argument 'model'/],
    ['missing image paths', ['inspect', 'model.onnx'], /missing required argument 'paths'/],
    ['unknown option', ['inspect', 'm.onnx', 'x.png', '--colour'], /unknown option '--colour'/],
    ['bad --batch', ['inspect', 'm.onnx', 'x.png', '--batch', '0'], /option '--batch <n>' argument '0' is invalid\. --batch must be a whole number >= 1\. \(see --help\)\n$/],
    ['bad --threshold', ['inspect', 'm.onnx', 'x.png', '--threshold', 'high'], /argument 'high' is invalid\. --threshold must be a number/],
    ['bad --ep', ['inspect', 'm.onnx', 'x.png', '--ep', 'tpu'], /argument 'tpu' is invalid.*Allowed choices are auto, cpu, cuda, webgpu/],
    ['evaluate without --json', ['evaluate', 'm.onnx', '--data', 'd'], /required option '--json <out>' not specified/],
    ['train without --model', ['train', '--data', 'd', '--size', '8', '--channels', '1', '--epochs', '1', '--out', 'r'], /required option '--model <family>' not specified/],
    ['train with a bad --channels', ['train', '--model', 'cae', '--data', 'd', '--size', '8', '--channels', '2', '--epochs', '1', '--out', 'r'], /argument '2' is invalid/],
    ['export without --out', ['export', 'runs/x'], /required option '--out <model.onnx>' not specified/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const run = await residuum(args);
      expect(run.code).toBe(2);
      expect(run.err).toMatch(message);
      expect(run.err).not.toMatch(STACK_LINE);
      expect(run.err.trimEnd().split('\n')).toHaveLength(1);
      expect(run.out).toBe('');
    });
  }
});

describe('model errors', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  beforeAll(async () => {
    tmp = await makeTempDir('model-errors');
    const bytes = await readFile(TINY_AE);
    await writeFile(join(tmp.dir, 'truncated.onnx'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    await writeFile(join(tmp.dir, 'empty.onnx'), new Uint8Array(0));
    await writeFile(join(tmp.dir, 'image.png'), Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
    await copyFile(join(FIXTURES, 'foreign.onnx'), join(tmp.dir, 'foreign.onnx'));
  });
  afterAll(async () => tmp.cleanup());

  it('names a missing model file', async () => {
    for (const command of [['inspect', 'nope.onnx', 'x.png'], ['model-info', 'nope.onnx'], ['evaluate', 'nope.onnx', '--data', '.', '--json', 'o.json']]) {
      const run = await residuum(command, tmp.dir);
      expect(run.code, command[0]).toBe(2);
      expect(run.err, command[0]).toMatch(/^residuum: error: model (file )?not found: nope\.onnx\n$/);
    }
  });

  it('reports a damaged model in one line, with the stack only under --verbose', async () => {
    for (const command of ['inspect', 'model-info']) {
      const args = command === 'inspect' ? ['inspect', 'truncated.onnx', 'image.png'] : ['model-info', 'truncated.onnx'];
      const run = await residuum(args, tmp.dir);
      expect(run.code, command).toBe(2);
      expect(run.err.trimEnd().split('\n'), command).toHaveLength(1);
      expect(run.err, command).toMatch(/^residuum: error: .*truncated/i);
      const verbose = await residuum([...args, '--verbose'], tmp.dir);
      expect(verbose.code).toBe(2);
      expect(verbose.err).toMatch(STACK_LINE);
    }
  });

  it('says what is wrong with an empty file, a PNG and a foreign ONNX', async () => {
    const empty = await residuum(['model-info', 'empty.onnx'], tmp.dir);
    expect(empty.code).toBe(2);
    expect(empty.err).toMatch(/empty/i);
    const png = await residuum(['model-info', 'image.png'], tmp.dir);
    expect(png.code).toBe(2);
    expect(png.err).toMatch(/not an ONNX file/i);
    const foreign = await residuum(['model-info', 'foreign.onnx'], tmp.dir);
    expect(foreign.code).toBe(2);
    expect(foreign.err).toMatch(/no Residuum model card.*residuum export/);
  });

  it('refuses a folder as the model of inspect', async () => {
    const run = await residuum(['inspect', '.', 'image.png'], tmp.dir);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/is a folder; give the \.onnx file/);
  });
});
