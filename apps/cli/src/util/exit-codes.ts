/**
 * Exit codes of every `residuum` command (documented in `--help` and the README):
 * - 0 success: every inspected part is good;
 * - 1 at least one part is anomalous (inspect); anomalies outrank unreadable images;
 * - 2 usage, model or dataset error: bad arguments, missing/damaged/foreign model file,
 *     invalid model card, missing dataset, an output path that cannot be written;
 * - 3 some images could not be read (and none of the readable ones is anomalous);
 *     evaluate also returns 3 when it had to skip images (the metrics cover the rest);
 * - 4 unexpected internal error (a bug: run again with --verbose and report the stack);
 * - 130 interrupted (Ctrl-C): what was complete is written, marked as interrupted.
 */
export const ExitCode = {
  ok: 0,
  anomalous: 1,
  usage: 2,
  unreadableImages: 3,
  internal: 4,
  interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `Exit codes:
  0  success (inspect: every part good)
  1  inspect: at least one part anomalous
  2  usage, model or dataset error (bad arguments, missing or damaged model, invalid card),
     or an output that cannot or must not be written (another kind of file there: --force;
     a folder that is read-only or full; another run writing it)
  3  some images could not be read (and none anomalous); evaluate: images were skipped
  4  unexpected internal error (run again with --verbose and report the stack)
  130 interrupted (Ctrl-C); what was complete is written and marked "interrupted"`;
