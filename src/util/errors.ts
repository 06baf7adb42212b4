/**
 * Errors a user can cause (bad config, bad file, missing GPU) are SelfcestError: the CLI prints their message
 * as one line, without a stack. Anything else is a bug and keeps its stack.
 */
export class SelfcestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelfcestError';
  }
}

export function isSelfcestError(e: unknown): e is SelfcestError {
  return e instanceof Error && e.name === 'SelfcestError';
}

/** Causes that are the machine's state (disk, permissions, limits), not a bug in selfcest. */
const ENVIRONMENT_CAUSES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'input/output error',
};

/**
 * A Node system error caused by the environment (a full disk, an unwritable or read-only path) as one line naming
 * the path and the cause; null for anything else (a bug keeps its stack).
 */
export function environmentError(e: unknown): string | null {
  const x = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof x.code !== 'string' || !(x.code in ENVIRONMENT_CAUSES)) return null;
  return `${x.path ?? '(no path)'}: ${ENVIRONMENT_CAUSES[x.code]} (${x.code}${x.syscall ? `, ${x.syscall}` : ''})`;
}
