/**
 * Nothing the user gave or produced is lost or clobbered: one test per class of output problem
 * (kinds and --force, closed stdout, empty classes, unwritable outputs, Ctrl-C, locks, reused
 * --maps folders). Tiny fixture model, generated 16x16 PNGs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { writeOutputFile } from '../src/output/index.js';
import { createCapturingIo } from '../src/util/io.js';
import { TINY_AE, encodeGreyPng, makeTempDir, residuum, syntheticPart } from './helpers.js';

const CLI_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
// tsx's loader by absolute URL: the child runs in the test's temporary folder.
const TSX_LOADER = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;

/**
 * The CLI as a real process (from sources), for what only a process has: stdout pipes, SIGINT, and
 * permission checks. `withoutRootOverride` runs it as root without CAP_DAC_OVERRIDE (util-linux's
 * setpriv), so a read-only folder refuses root too; running it as another user instead would fail
 * wherever the checkout is not readable by that user (a clone under a 0700 temp folder).
 */
function spawnCli(args: string[], cwd: string, options: { withoutRootOverride?: boolean } = {}): ChildProcess {
  const node = [process.execPath, '--conditions=@residuum/source', '--import', TSX_LOADER, CLI_MAIN, ...args];
  const command = options.withoutRootOverride ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--', ...node] : node;
  return spawn(command[0], command.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }> {
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => void (err += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, err })));
}

/** A run whose stdout aborts the given controller once `after` result lines were printed. */
async function interruptedRun(args: string[], cwd: string, after: number): Promise<{ code: number; out: string; err: string }> {
  const controller = new AbortController();
  const io = createCapturingIo(cwd, controller.signal);
  let lines = 0;
  const base = io.stdout;
  const counting = Object.assign(Object.create(io) as typeof io, {
    stdout: (text: string) => {
      base(text);
      lines += (text.match(/\tscore=/g) ?? []).length;
      if (lines >= after) controller.abort();
    },
  });
  const code = await runCli(args, counting);
  return { code, out: io.out, err: io.err };
}

const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

describe('outputs: nothing the user gave or produced is lost', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  beforeAll(async () => {
    tmp = await makeTempDir('outputs');
    await mkdir(join(tmp.dir, 'parts'), { recursive: true });
    for (let k = 0; k < 12; k += 1) await writeFile(join(tmp.dir, 'parts', `p${String(k).padStart(2, '0')}.png`), encodeGreyPng(syntheticPart(700 + k, k % 3 === 0), 16, 16));
    await mkdir(join(tmp.dir, 'data', 'good'), { recursive: true });
    await mkdir(join(tmp.dir, 'data', 'bad'), { recursive: true });
    for (let k = 0; k < 6; k += 1) await writeFile(join(tmp.dir, 'data', 'good', `g${k}.png`), encodeGreyPng(syntheticPart(800 + k, false), 16, 16));
    for (let k = 0; k < 6; k += 1) await writeFile(join(tmp.dir, 'data', 'bad', `b${k}.png`), encodeGreyPng(syntheticPart(900 + k, true), 16, 16));
  });
  afterAll(async () => tmp.cleanup());

  it('kinds: another kind of output or any .onnx needs --force (the message says what is there); the same kind is "replaced"', async () => {
    const evaluate = ['evaluate', TINY_AE, '--data', 'data', '--normal-dir', 'good', '--anomaly-dir', 'bad', '--ep', 'cpu'];
    expect((await residuum([...evaluate, '--json', 'kinds/eval.json', '--report', 'kinds/report.html'], tmp.dir)).code).toBe(0);
    const report = await readFile(join(tmp.dir, 'kinds/report.html'), 'utf8');

    const overReport = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--json', 'kinds/report.html'], tmp.dir);
    expect(overReport.code).toBe(2);
    expect(overReport.err).toMatch(/--json kinds\/report\.html: holds an evaluation report \(HTML\); refusing to replace it with an inspect result \(JSON\) without --force/);
    expect(overReport.out).toBe('');
    expect(await readFile(join(tmp.dir, 'kinds/report.html'), 'utf8')).toBe(report);

    const overEval = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--json', 'kinds/eval.json'], tmp.dir);
    expect(overEval.code).toBe(2);
    expect(overEval.err).toMatch(/holds an evaluate result \(JSON\)/);

    const again = await residuum([...evaluate, '--json', 'kinds/eval.json', '--report', 'kinds/report.html'], tmp.dir);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/results: kinds\/eval\.json \(replaced\)\nreport: kinds\/report\.html \(replaced\)/);

    const forced = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--json', 'kinds/report.html', '--force'], tmp.dir);
    expect(forced.code).toBe(0);
    expect(forced.out).toMatch(/results: kinds\/report\.html \(replaced\)/);
    expect((await readJson(join(tmp.dir, 'kinds/report.html'))).command).toBe('inspect');

    // export: over an evaluate JSON and over any .onnx (a production model), only with --force.
    await mkdir(join(tmp.dir, 'run'), { recursive: true });
    await writeFile(join(tmp.dir, 'run', 'model.json'), '{}');
    await writeFile(join(tmp.dir, 'run', 'model-card.json'), '{}');
    await writeFile(join(tmp.dir, 'production.onnx'), await readFile(TINY_AE));
    const overModel = await residuum(['export', 'run', '--out', 'production.onnx'], tmp.dir);
    expect(overModel.code).toBe(2);
    expect(overModel.err).toMatch(/--out production\.onnx: holds an ONNX model; an existing ONNX model is never replaced without --force/);
    expect(new Uint8Array(await readFile(join(tmp.dir, 'production.onnx')))).toEqual(new Uint8Array(await readFile(TINY_AE)));
    // With --force but a run folder that does not convert: the model in place is untouched, no temporary file, no lock.
    const failed = await residuum(['export', 'run', '--out', 'production.onnx', '--force'], tmp.dir);
    expect(failed.code).toBe(2);
    expect(new Uint8Array(await readFile(join(tmp.dir, 'production.onnx')))).toEqual(new Uint8Array(await readFile(TINY_AE)));
    expect((await readdir(tmp.dir)).filter((name) => name.startsWith('production.onnx.'))).toEqual([]);
    const overJson = await residuum(['export', 'run', '--out', 'kinds/eval.json'], tmp.dir);
    expect(overJson.code).toBe(2);
    expect(overJson.err).toMatch(/holds an evaluate result \(JSON\); refusing to replace it with an ONNX model/);
  });

  it('closed stdout (`| head`): no EPIPE crash, the --json file is still written', async () => {
    const child = spawnCli(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--batch', '1', '--json', 'piped.json'], tmp.dir);
    child.stdout?.once('data', () => child.stdout?.destroy());
    const { code, signal, err } = await exitOf(child);
    expect(err).not.toMatch(/EPIPE|Unhandled/);
    expect(signal).toBeNull();
    expect(code).toBe(0); // as without the pipe
    const json = await readJson(join(tmp.dir, 'piped.json'));
    expect((json.summary as { total: number }).total).toBe(12);
  });

  it('evaluate with no readable defective image: a clear error naming the unreadable files, exit 3', async () => {
    await mkdir(join(tmp.dir, 'broken-bad'), { recursive: true });
    for (const name of ['x1.png', 'x2.png']) await writeFile(join(tmp.dir, 'broken-bad', name), 'not really a png');
    const run = await residuum(['evaluate', TINY_AE, '--data', '.', '--normal-dir', 'data/good', '--anomaly-dir', 'broken-bad', '--json', 'none.json', '--ep', 'cpu'], tmp.dir);
    expect(run.code).toBe(3);
    expect(run.err).toMatch(/no defective image could be read \(2 unreadable: broken-bad\/x1\.png \(.+\); broken-bad\/x2\.png \(.+\)\): the metrics need both good and defective images/);
    expect(run.err).not.toMatch(/RangeError/);
  });

  it('output problems show before any scoring, name the real path, and leave no temporary file', async () => {
    // A folder that does not take files: root would write anyway, so as root the CLI runs without that override.
    const locked = join(tmp.dir, 'readonly');
    await mkdir(locked);
    await chmod(locked, 0o555);
    const asRoot = process.getuid?.() === 0;
    const child = spawnCli(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--json', 'readonly/out.json'], tmp.dir, { withoutRootOverride: asRoot });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => void (out += chunk.toString()));
    const { code, err } = await exitOf(child);
    expect(err).toMatch(new RegExp(`--json readonly/out\\.json: cannot write into ${locked}: permission denied`));
    expect(code).toBe(2);
    expect(out).toBe(''); // nothing was scored
    expect(await readdir(locked)).toEqual([]);

    // A failure at the write itself (the path became a folder meanwhile): the flag and real path, temp file removed.
    const target = join(tmp.dir, 'late', 'out.json');
    await mkdir(join(target, 'inner'), { recursive: true });
    await expect(writeOutputFile({ path: target, option: '--json' }, '{}')).rejects.toThrow(new RegExp(`--json ${target}: cannot write`));
    expect((await readdir(join(tmp.dir, 'late'))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('Ctrl-C in inspect and evaluate writes what is complete, marked interrupted, exit 130', async () => {
    const inspected = await interruptedRun(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--batch', '2', '--json', 'int/inspect.json', '--maps', 'int/maps'], tmp.dir, 1);
    expect(inspected.code).toBe(130);
    const json = await readJson(join(tmp.dir, 'int/inspect.json'));
    expect(json.interrupted).toBe(true);
    expect((json.results as unknown[]).length).toBe(2);
    expect(json.notInspected).toBe(10);
    expect(inspected.out).toMatch(/interrupted: 10 of 12 images not inspected/);
    expect(inspected.out).toMatch(/results: int\/inspect\.json \(written, marked interrupted\)/);
    expect(JSON.parse(await readFile(join(tmp.dir, 'int/maps/.residuum-maps'), 'utf8'))).toMatchObject({ interrupted: true });
    expect(await readdir(join(tmp.dir, 'int'))).not.toContain('inspect.json.lock');

    // evaluate, interrupted before its first batch: no metrics yet, the (empty) scores are kept and marked.
    const controller = new AbortController();
    controller.abort();
    const io = createCapturingIo(tmp.dir, controller.signal);
    const code = await runCli(['evaluate', TINY_AE, '--data', 'data', '--normal-dir', 'good', '--anomaly-dir', 'bad', '--ep', 'cpu', '--batch', '1', '--json', 'int/eval.json', '--report', 'int/eval.html'], io);
    expect(code).toBe(130);
    const evalJson = await readJson(join(tmp.dir, 'int/eval.json'));
    expect(evalJson).toMatchObject({ interrupted: true, notScored: 8, image: null });
    expect(io.out).toMatch(/marked interrupted/);
  });

  it('Ctrl-C in evaluate once both classes are scored: metrics over what was scored, JSON and report marked interrupted, exit 130', async () => {
    // Evaluate looks at the signal once per chunk (4 images with --batch 1): "Ctrl-C" during the second chunk.
    let looks = 0;
    const signal = { get aborted() { looks += 1; return looks >= 2; } } as unknown as AbortSignal;
    const io = createCapturingIo(tmp.dir, signal);
    const code = await runCli(['evaluate', TINY_AE, '--data', 'data', '--normal-dir', 'good', '--anomaly-dir', 'bad', '--ep', 'cpu', '--batch', '1', '--json', 'int/partial.json', '--report', 'int/partial.html'], io);
    expect(code).toBe(130);
    expect(io.err).toMatch(/interrupted: 4 of 12 images not scored; the metrics cover the 8 scored/);
    const json = await readJson(join(tmp.dir, 'int/partial.json'));
    expect(json).toMatchObject({ interrupted: true, notScored: 4, dataset: { scored: 8, normal: 2, anomalous: 6 } });
    expect((json.image as { auroc: number }).auroc).toBeGreaterThanOrEqual(0);
    expect(await readFile(join(tmp.dir, 'int/partial.html'), 'utf8')).toContain('interrupted: 4 of 12 images not scored</strong>');
  });

  it('Ctrl-C (a real SIGINT) in a running inspect: exit 130, JSON marked interrupted, lock released', async () => {
    const many = join(tmp.dir, 'many');
    await mkdir(many, { recursive: true });
    for (let k = 0; k < 400; k += 1) await writeFile(join(many, `m${String(k).padStart(3, '0')}.png`), encodeGreyPng(syntheticPart(2000 + k, false), 16, 16));
    const child = spawnCli(['inspect', TINY_AE, 'many', '--ep', 'cpu', '--batch', '1', '--json', 'sigint.json'], tmp.dir);
    child.stdout?.once('data', () => child.kill('SIGINT'));
    const { code, err } = await exitOf(child);
    expect(err).toMatch(/interrupted: finishing the current step/);
    expect(code).toBe(130);
    const json = await readJson(join(tmp.dir, 'sigint.json'));
    expect(json.interrupted).toBe(true);
    expect((json.results as unknown[]).length).toBeLessThan(400);
    expect(await readdir(tmp.dir)).not.toContain('sigint.json.lock');
  });

  it('Ctrl-C in a command without a graceful stop (dfr / fanogan training): exit 130 at once, after marking its output', async () => {
    const script = join(tmp.dir, 'immediate.ts');
    const module = pathToFileURL(fileURLToPath(new URL('../src/output/interruption.ts', import.meta.url))).href;
    await writeFile(
      script,
      `import { writeFileSync } from 'node:fs';\n` +
        `import { processInterruption } from '${module}';\n` +
        `const interruption = processInterruption((line) => process.stderr.write(line));\n` +
        `interruption.beforeImmediateExit(() => writeFileSync(${JSON.stringify(join(tmp.dir, 'marked.json'))}, '{"status": "interrupted"}'));\n` +
        `process.stdout.write('ready\\n');\n` +
        `setTimeout(() => process.exit(0), 20_000);\n`,
    );
    const child = spawn(process.execPath, ['--import', TSX_LOADER, script], { cwd: tmp.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.once('data', () => child.kill('SIGINT'));
    const { code, err } = await exitOf(child);
    expect(err).toBe('interrupted\n');
    expect(code).toBe(130);
    expect(await readJson(join(tmp.dir, 'marked.json'))).toEqual({ status: 'interrupted' });
  });

  it('locks: a second run on the same --json, --maps or training --out stops; a dead run\'s lock is taken over', async () => {
    const sleeper = spawn('sleep', ['30']);
    try {
      await writeFile(join(tmp.dir, 'locked.json.lock'), `${sleeper.pid}\nresiduum inspect\n2026-01-01T00:00:00.000Z\n`);
      const blocked = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--json', 'locked.json'], tmp.dir);
      expect(blocked.code).toBe(2);
      expect(blocked.err).toMatch(new RegExp(`--json locked\\.json is being written by another run \\(residuum inspect, pid ${sleeper.pid}`));
      expect(blocked.out).toBe('');

      await mkdir(join(tmp.dir, 'lockedmaps'), { recursive: true });
      await writeFile(join(tmp.dir, 'lockedmaps', '.residuum-maps'), '{"maps": []}');
      await writeFile(join(tmp.dir, 'lockedmaps', '.residuum-maps.lock'), `${sleeper.pid}\nresiduum inspect\n`);
      const blockedMaps = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--maps', 'lockedmaps'], tmp.dir);
      expect(blockedMaps.code).toBe(2);
      expect(blockedMaps.err).toMatch(/--maps lockedmaps is being written by another run/);

      await mkdir(join(tmp.dir, 'lockedrun'), { recursive: true });
      await writeFile(join(tmp.dir, 'lockedrun', '.residuum-train.lock'), `${sleeper.pid}\nresiduum train\n`);
      const blockedTrain = await residuum(['train', '--model', 'cae', '--data', 'data', '--normal-dir', 'good', '--size', '16', '--channels', '1', '--epochs', '1', '--out', 'lockedrun', '--backend', 'wasm'], tmp.dir);
      expect(blockedTrain.code).toBe(2);
      expect(blockedTrain.err).toMatch(/--out lockedrun is being written by another run \(residuum train/);
    } finally {
      sleeper.kill();
    }
    // A pid that is gone: the lock is stale and taken over.
    const gone = spawnSync('true').pid;
    await writeFile(join(tmp.dir, 'locked.json.lock'), `${gone}\nresiduum inspect\n`);
    const taken = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--json', 'locked.json'], tmp.dir);
    expect(taken.code).toBe(0);
    expect(await readdir(tmp.dir)).not.toContain('locked.json.lock');
  });

  it('a reused --maps folder holds only the new run\'s maps; files it did not write are reported, not mixed in silently', async () => {
    const first = await residuum(['inspect', TINY_AE, 'parts', '--ep', 'cpu', '--maps', 'reuse'], tmp.dir);
    expect(first.out).toMatch(/heatmaps: 12 written to reuse\n/);
    const second = await residuum(['inspect', TINY_AE, 'data/good', '--ep', 'cpu', '--maps', 'reuse'], tmp.dir);
    expect(second.out).toMatch(/heatmaps: 6 written to reuse \(the 12 heatmaps of the earlier run there were removed\)/);
    const pngs = (await readdir(join(tmp.dir, 'reuse'))).filter((name) => name.endsWith('.png')).sort();
    expect(pngs).toEqual(['g0.png', 'g1.png', 'g2.png', 'g3.png', 'g4.png', 'g5.png']);

    await writeFile(join(tmp.dir, 'reuse', 'mine.png'), 'a user file');
    const third = await residuum(['inspect', TINY_AE, 'data/bad', '--ep', 'cpu', '--maps', 'reuse'], tmp.dir);
    expect(third.err).toMatch(/note: --maps reuse also holds 1 file\(s\) this run did not write \(e\.g\. mine\.png\); they were left as they are/);
    expect(await readFile(join(tmp.dir, 'reuse', 'mine.png'), 'utf8')).toBe('a user file');
    await rm(join(tmp.dir, 'reuse'), { recursive: true });
  });
});

describe('training and inputs: interruptions, unreadable images, flag names, the pixel limit', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  beforeAll(async () => {
    tmp = await makeTempDir('train-outputs');
    await mkdir(join(tmp.dir, 'data', 'good'), { recursive: true });
    for (let k = 0; k < 10; k += 1) await writeFile(join(tmp.dir, 'data', 'good', `g${k}.png`), encodeGreyPng(syntheticPart(600 + k, false), 16, 16));
    await writeFile(join(tmp.dir, 'data', 'good', 'zz-empty.png'), '');
    await writeFile(join(tmp.dir, 'data', 'good', 'zz-text.png'), 'not an image');
  });
  afterAll(async () => tmp.cleanup());

  it('training names its unreadable images, leaves them out of the split counts, and Ctrl-C exits 130 with history.json "interrupted" and an exportable best-so-far model', async () => {
    const controller = new AbortController();
    const io = createCapturingIo(tmp.dir, controller.signal);
    const base = io.stderr;
    const watching = Object.assign(Object.create(io) as typeof io, {
      stderr: (text: string) => {
        base(text);
        if (/^epoch 1\/3/m.test(text)) controller.abort();
      },
    });
    const args = ['train', '--model', 'cae', '--data', 'data', '--normal-dir', 'good', '--size', '16', '--channels', '1', '--epochs', '3', '--out', 'run', '--backend', 'wasm', '--batch', '4', '--seed', '3', '--val-split', '0.25', '--workers', '1'];
    const code = await runCli(args, watching);
    expect(io.err).toMatch(/2 of 12 images cannot be read and are left out of training and validation \(.*zz-empty\.png: file is empty .*; .*zz-text\.png: not an image/);
    expect(io.err).toMatch(/data: folder .*: good, 2 unreadable left out \(7 train, 3 validation, seed 3\)/);
    expect(code).toBe(130);
    expect(io.out).toMatch(/training interrupted after 1 epoch\(s\) \(history\.json says "interrupted"/);
    expect(JSON.parse(await readFile(join(tmp.dir, 'run', 'history.json'), 'utf8'))).toMatchObject({ status: 'interrupted' });
    expect(await readdir(join(tmp.dir, 'run'))).not.toContain('.residuum-train.lock');
    // The best model so far is kept with its card: export accepts it and says it is from an interrupted training.
    expect(io.out).toMatch(/the best model so far and its card are written, marked interrupted; continue with: residuum train \.\.\. --resume --out run/);
    const exported = await residuum(['export', 'run', '--out', 'stopped.onnx'], tmp.dir);
    expect(exported.code).toBe(0);
    expect(exported.err).toMatch(/warning: interrupted training: stop requested after 1 epoch\(s\); this is the best model so far \(epoch 1\)/);
    const info = await residuum(['model-info', 'stopped.onnx'], tmp.dir);
    expect(info.out).toMatch(/interrupted\s+stop requested after 1 epoch/);
  }, 120_000);

  it('messages name the flags, not internal fields', async () => {
    const evaluate = await residuum(['evaluate', TINY_AE, '--data', 'data', '--normal-dir', '../outside', '--anomaly-dir', 'good', '--json', 'e.json'], tmp.dir);
    expect(evaluate.code).toBe(2);
    expect(evaluate.err).toMatch(/--normal-dir: '\.\.\/outside' must be a folder relative to the dataset root/);
    expect(evaluate.err).not.toMatch(/trainNormalDirs|testAnomalyDirs/);
    const train = await residuum(['train', '--model', 'cae', '--data', 'data', '--normal-dir', 'nothing-here', '--size', '16', '--channels', '1', '--epochs', '1', '--out', 'r2', '--backend', 'wasm'], tmp.dir);
    expect(train.code).toBe(2);
    expect(train.err).toMatch(/--normal-dir folder 'nothing-here'/);
    expect(train.err).not.toMatch(/trainNormalDirs/);
  });

  it('an image over the pixel limit is reported as such, with how to raise it (not "corrupt")', async () => {
    const png = encodeGreyPng(syntheticPart(1, false), 16, 16);
    png.writeUInt32BE(20_000, 16);
    png.writeUInt32BE(20_000, 20);
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
    await writeFile(join(tmp.dir, 'huge.png'), png);
    const run = await residuum(['inspect', TINY_AE, 'huge.png', '--ep', 'cpu'], tmp.dir);
    expect(run.code).toBe(3);
    expect(run.out).toMatch(/huge\.png\tERROR\t.*image is 20000x20000 \(400\.0 Mpx\), over the pixel limit of 268\.4 Mpx; to decode it, raise the limit with RESIDUUM_MAX_IMAGE_PIXELS=400000000/);
    expect(run.out).not.toMatch(/corrupt/);
  });
});
