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
  /** Stops long commands like Ctrl-C does (tests, embedding); the process io uses SIGINT instead. */
  readonly signal?: AbortSignal;
  /** True for the real process streams: the CLI then handles SIGINT itself. */
  readonly ownsProcess?: boolean;
}

let stdoutClosed = false;
let stdoutGuarded = false;

/**
 * A reader that goes away (`residuum inspect ... | head`) closes stdout: further lines are
 * dropped and the command goes on (its --json file is still written) instead of crashing on EPIPE.
 */
function guardStdout(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') stdoutClosed = true;
    else throw error;
  });
}

export function processIo(): CliIo {
  guardStdout();
  return {
    stdout: (text) => {
      if (!stdoutClosed) process.stdout.write(text);
    },
    stderr: (text) => void process.stderr.write(text),
    interactive: Boolean(process.stderr.isTTY),
    stdoutInteractive: Boolean(process.stdout.isTTY),
    cwd: process.cwd(),
    ownsProcess: true,
  };
}

export interface CapturingIo extends CliIo {
  readonly out: string;
  readonly err: string;
}

/** An io that records everything, for tests and for embedding the CLI. */
export function createCapturingIo(cwd: string = process.cwd(), signal?: AbortSignal): CapturingIo {
  let out = '';
  let err = '';
  return {
    stdout: (text) => void (out += text),
    stderr: (text) => void (err += text),
    interactive: false,
    cwd,
    ...(signal ? { signal } : {}),
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}
