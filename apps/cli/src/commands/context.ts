import type { Interruption } from '../output/index.js';
import type { CliIo } from '../util/io.js';

/** What every command gets besides its own arguments. */
export interface CommandContext {
  io: CliIo;
  verbose: boolean;
  /** "residuum <version>", written into JSON/HTML outputs as their generator. */
  generator: string;
  /** Ctrl-C: long commands stop after the current step, write what is complete (marked) and return 130. */
  interruption: Interruption;
}
