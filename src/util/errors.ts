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
