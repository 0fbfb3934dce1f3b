/** Where the CLI writes: the real process streams, or buffers in tests (runCli is in-process). */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Progress bars are drawn only on an interactive stderr. */
  readonly interactive: boolean;
  /** Whether stdout is a terminal too (then per-line output is the progress, and no bar is drawn over it). */
  readonly stdoutInteractive?: boolean;
  /** Base for relative paths given on the command line. */
  readonly cwd: string;
}

export function processIo(): CliIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    interactive: Boolean(process.stderr.isTTY),
    stdoutInteractive: Boolean(process.stdout.isTTY),
    cwd: process.cwd(),
  };
}

export interface CapturingIo extends CliIo {
  readonly out: string;
  readonly err: string;
}

/** An io that records everything, for tests and for embedding the CLI. */
export function createCapturingIo(cwd: string = process.cwd()): CapturingIo {
  let out = '';
  let err = '';
  return {
    stdout: (text) => void (out += text),
    stderr: (text) => void (err += text),
    interactive: false,
    cwd,
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}
