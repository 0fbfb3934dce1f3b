import { SingleBar, Presets } from 'cli-progress';
import type { CliIo } from './io.js';

export interface Progress {
  advance(by: number, label?: string): void;
  stop(): void;
}

export const NO_PROGRESS: Progress = { advance: () => undefined, stop: () => undefined };

/** A progress bar on stderr when it is a terminal; silent otherwise (pipes, CI logs, tests). */
export function startProgress(io: CliIo, total: number, title: string): Progress {
  if (!io.interactive || total <= 1) return NO_PROGRESS;
  const bar = new SingleBar(
    {
      format: `${title} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} | {label}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    Presets.shades_classic,
  );
  bar.start(total, 0, { label: '' });
  return {
    advance: (by, label = '') => bar.increment(by, { label }),
    stop: () => bar.stop(),
  };
}
