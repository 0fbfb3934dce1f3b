import { ExitCode, type ExitCodeValue } from './exit-codes.js';

/** An error the CLI itself raises: its message is already the one line the user sees. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.usage,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Error classes of the Residuum libraries, matched by name so the CLI needs no import of
 * each class (and stays right when a library re-exports or wraps another's error).
 * All are the user's input being wrong (exit 2), not a bug.
 */
const LIBRARY_ERRORS: Readonly<Record<string, string>> = {
  ImageDecodeError: 'image',
  ModelCardError: 'model card',
  OnnxFileError: 'model file',
  DatasetError: 'dataset',
  ConversionError: 'conversion',
  ConverterError: 'conversion',
  UnsupportedLayerError: 'conversion',
  BackendUnavailableError: 'backend',
  ProviderUnavailableError: 'execution provider',
  ExecutionProviderError: 'execution provider',
  TrainingError: 'training',
};

/** Node system errors worth a plain message instead of a stack. */
const SYSTEM_ERROR_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
};

export interface DescribedError {
  /** One line, no stack. */
  line: string;
  exitCode: ExitCodeValue;
  /** The stack (and causes), shown with --verbose. */
  detail: string;
}

/** Joins a multi-line message (e.g. a bullet list of problems) into one line. */
export function oneLine(text: string): string {
  const parts = text
    .split(/\r?\n/)
    .map((part) => part.trim().replace(/^[-*•]\s+/, ''))
    .filter((part) => part.length > 0);
  return parts.reduce((line, part, i) => (i === 0 ? part : `${line}${line.endsWith(':') ? ' ' : '; '}${part}`), '');
}

/** Whether an error is one of the libraries' input errors (as opposed to a bug). */
export function isLibraryError(error: unknown): error is Error {
  return error instanceof Error && LIBRARY_ERRORS[error.name] !== undefined;
}

function errorName(error: Error): string {
  return error.name && error.name !== 'Error' ? error.name : error.constructor.name || 'Error';
}

function stackWithCauses(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth += 1) {
    if (current instanceof Error) {
      parts.push((depth > 0 ? 'Caused by: ' : '') + (current.stack ?? `${current.name}: ${current.message}`));
      current = current.cause;
    } else {
      parts.push(`${depth > 0 ? 'Caused by: ' : ''}${String(current)}`);
      break;
    }
  }
  return parts.join('\n');
}

/** Maps any thrown value to the one line the user sees and the exit code. */
export function describeError(error: unknown): DescribedError {
  const detail = stackWithCauses(error);
  if (error instanceof CliError) return { line: oneLine(error.message), exitCode: error.exitCode, detail };
  if (error instanceof Error) {
    const name = errorName(error);
    const kind = LIBRARY_ERRORS[name];
    if (kind !== undefined) return { line: oneLine(error.message), exitCode: ExitCode.usage, detail };
    const code = (error as NodeJS.ErrnoException).code;
    const systemText = code !== undefined ? SYSTEM_ERROR_TEXT[code] : undefined;
    if (systemText !== undefined) {
      const path = (error as NodeJS.ErrnoException).path;
      return { line: path ? `${path}: ${systemText}` : oneLine(error.message), exitCode: ExitCode.usage, detail };
    }
    // Libraries signal bad input with plain Error / RangeError and a message meant for the
    // user; TypeError, ReferenceError, Node's internal ERR_* errors and the like are bugs.
    const internalCode = typeof code === 'string' && code.startsWith('ERR_');
    if ((name === 'Error' || name === 'RangeError') && !internalCode) {
      return { line: oneLine(error.message), exitCode: ExitCode.usage, detail };
    }
    return {
      line: `unexpected ${name}: ${oneLine(error.message)} (run again with --verbose for the stack)`,
      exitCode: ExitCode.internal,
      detail,
    };
  }
  return { line: `unexpected error: ${oneLine(String(error))}`, exitCode: ExitCode.internal, detail };
}
