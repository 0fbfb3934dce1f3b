/** Runs Debian's python3-onnx checker (full_check=True) on ONNX bytes, as an independent validator. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';
const SCRIPT = [
  'import sys',
  'try:',
  '    import onnx',
  'except ImportError as e:',
  '    print("python3-onnx is not installed: " + str(e)); sys.exit(3)',
  'for path in sys.argv[1:]:',
  '    try:',
  '        onnx.checker.check_model(onnx.load(path), full_check=True)',
  '        print("OK " + path)',
  '    except Exception as e:',
  '        print("FAIL " + path + ": " + type(e).__name__ + ": " + str(e).replace("\\n", " | "))',
].join('\n');

export interface CheckerVerdict {
  ok: boolean;
  message: string;
}

/** Checks each model; one Python process for all of them. */
export function checkOnnxModels(models: Uint8Array[]): CheckerVerdict[] {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} not found: install Debian's python3-onnx (see .ci/run)`);
  const dir = mkdtempSync(join(tmpdir(), 'onnx-check-'));
  try {
    const files = models.map((bytes, i) => {
      const file = join(dir, `model-${i}.onnx`);
      writeFileSync(file, bytes);
      return file;
    });
    const run = spawnSync(PYTHON, ['-c', SCRIPT, ...files], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: '' } });
    if (run.status === 3) throw new Error(`ONNX checker unavailable: ${run.stdout.trim()} (install Debian's python3-onnx)`);
    if (run.status !== 0) throw new Error(`ONNX checker crashed (exit ${run.status}): ${run.stderr}`);
    const lines = run.stdout.trim().split('\n');
    return files.map((file) => {
      const line = lines.find((l) => l.startsWith(`OK ${file}`) || l.startsWith(`FAIL ${file}`));
      if (!line) return { ok: false, message: `no checker verdict for ${file}: ${run.stdout} ${run.stderr}` };
      return { ok: line.startsWith('OK '), message: line.slice(line.indexOf(file) + file.length).replace(/^: /, '') };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Throws with the checker's message when the model is invalid. */
export function expectValidOnnx(bytes: Uint8Array): void {
  const [verdict] = checkOnnxModels([bytes]);
  if (!verdict.ok) throw new Error(`onnx.checker.check_model(full_check=True) rejected the model: ${verdict.message}`);
}
