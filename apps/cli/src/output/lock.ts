import { readFileSync, rmSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { CliError } from '../util/errors.js';

/** Locks this process holds, released on exit even when the process is stopped at once (second Ctrl-C). */
const held = new Set<string>();
let exitHookInstalled = false;

function releaseAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const path of held) {
      try {
        if (readFileSync(path, 'utf8').startsWith(`${process.pid}\n`)) rmSync(path, { force: true });
      } catch {
        // already gone
      }
    }
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface OutputLock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Claims an output for this run with a lock file (`<output>.lock`, or the given path) holding
 * our pid. A lock whose process is gone (a killed run) is taken over; a live one stops us with
 * a message naming the other run.
 */
export async function acquireOutputLock(lockPath: string, what: string, command: string): Promise<OutputLock> {
  const content = `${process.pid}\n${command}\n${new Date().toISOString()}\n`;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      const handle = await open(lockPath, 'wx');
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      held.add(lockPath);
      releaseAllOnExit();
      return {
        path: lockPath,
        release: async () => {
          held.delete(lockPath);
          await rm(lockPath, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CliError(`${what}: cannot create the lock file ${lockPath}: ${(error as Error).message}`, undefined, { cause: error });
      }
    }
    const [pidLine = '', other = 'another residuum run', since = ''] = (await readFile(lockPath, 'utf8').catch(() => '')).split('\n');
    const pid = Number(pidLine);
    const ours = pid === process.pid && held.has(lockPath);
    if (Number.isSafeInteger(pid) && pid > 0 && (ours || (pid !== process.pid && processAlive(pid)))) {
      throw new CliError(
        `${what} is being written by another run (${other}, pid ${pid}${since ? `, since ${since}` : ''}); wait for it to finish or choose another path (lock: ${lockPath})`,
      );
    }
    // Stale: the run that made it is gone (or the file is unreadable garbage). Take it over.
    await rm(lockPath, { force: true });
  }
  throw new CliError(`${what}: could not take the lock ${lockPath}; remove it if no residuum run is writing there`);
}

/** Locks every path in order; on a conflict, releases those already taken. */
export async function acquireOutputLocks(targets: ReadonlyArray<{ lockPath: string; what: string }>, command: string): Promise<OutputLock[]> {
  const locks: OutputLock[] = [];
  try {
    for (const target of targets) locks.push(await acquireOutputLock(target.lockPath, target.what, command));
    return locks;
  } catch (error) {
    await Promise.all(locks.map((lock) => lock.release()));
    throw error;
  }
}
