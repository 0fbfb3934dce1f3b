/**
 * Ctrl-C for long commands: the first SIGINT asks the command to stop after the current
 * batch and write what is complete, marked as interrupted (exit 130); a second one stops at once.
 */
export interface Interruption {
  readonly signal: AbortSignal;
  /** Whether the run was interrupted (the command then returns ExitCode.interrupted). */
  readonly interrupted: boolean;
  /**
   * The command stops by itself when `signal` aborts. Until a command says so, Ctrl-C ends the
   * process at once with exit 130 (locks are released on exit).
   */
  handleGracefully(): void;
  /** For commands that cannot stop gracefully: a synchronous step (e.g. marking the output interrupted) before the exit. */
  beforeImmediateExit(action: () => void): void;
}

/** Interruption by SIGINT of this process, for the duration of one command. */
export function processInterruption(notify: (line: string) => void): Interruption & { dispose(): void } {
  const controller = new AbortController();
  let graceful = false;
  const actions: Array<() => void> = [];
  const exitNow = (line: string): never => {
    notify(line);
    for (const action of actions) {
      try {
        action();
      } catch {
        // best effort: the exit code still says "interrupted"
      }
    }
    process.exit(130);
  };
  const onSigint = (): void => {
    if (!graceful) exitNow('interrupted\n');
    if (controller.signal.aborted) exitNow('interrupted again: stopping now\n');
    notify('interrupted: finishing the current step and writing what is complete (Ctrl-C again to stop at once)\n');
    controller.abort('interrupted (Ctrl-C)');
  };
  process.on('SIGINT', onSigint);
  return {
    signal: controller.signal,
    get interrupted() {
      return controller.signal.aborted;
    },
    handleGracefully: () => {
      graceful = true;
    },
    beforeImmediateExit: (action) => void actions.push(action),
    dispose: () => void process.off('SIGINT', onSigint),
  };
}

/** An interruption driven by an AbortSignal (tests, embedding). */
export function signalInterruption(signal: AbortSignal): Interruption {
  return {
    signal,
    get interrupted() {
      return signal.aborted;
    },
    handleGracefully: () => undefined,
    beforeImmediateExit: () => undefined,
  };
}
