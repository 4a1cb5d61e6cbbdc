import { expect } from 'vitest';
import { UsageError } from '../../load/lib/cli.ts';

/** The message of the UsageError that `fn` throws; fails the test if it throws anything else or nothing. */
export function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a UsageError');
}
