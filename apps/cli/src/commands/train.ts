import type { TrainCliOptions } from '../cli.js';
import type { CommandContext } from './context.js';
import { CliError } from '../util/errors.js';
import type { ExitCodeValue } from '../util/exit-codes.js';

export async function runTrain(_options: TrainCliOptions, _context: CommandContext): Promise<ExitCodeValue> {
  throw new CliError('train: not wired yet (waiting for @residuum/train)');
}
