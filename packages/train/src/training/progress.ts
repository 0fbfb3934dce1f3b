import cliProgress from 'cli-progress';

/** Per-epoch progress: a cli-progress bar with loss and ETA on stderr, or nothing when quiet. */
export interface EpochProgress {
  start(epoch: number, epochs: number, steps: number): void;
  step(done: number, loss: number): void;
  stop(): void;
}

export function createEpochProgress(quiet: boolean): EpochProgress {
  if (quiet) return { start: () => undefined, step: () => undefined, stop: () => undefined };
  let bar: cliProgress.SingleBar | null = null;
  return {
    start(epoch, epochs, steps) {
      bar = new cliProgress.SingleBar(
        {
          format: 'epoch {epoch}/{epochs} |{bar}| {value}/{total} steps | loss {loss} | ETA {eta_formatted}',
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(steps, 0, { epoch, epochs, loss: '-' });
    },
    step(done, loss) {
      bar?.update(done, { loss: loss.toPrecision(4) });
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
