// Option checks with p-queue's style of message: name the option, the expectation and what came in,
// e.g. "Expected `maxBatchSize` to be an integer >= 1, got `0` (number)". Programming errors, so
// they throw TypeError rather than a registry error.

function got(value: unknown): string {
  return `got \`${String(value)}\` (${typeof value})`;
}

export function assertInteger(name: string, value: unknown, min: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new TypeError(`Expected \`${name}\` to be an integer >= ${min}, ${got(value)}`);
  }
}

export function assertFiniteAtLeast(name: string, value: unknown, min: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new TypeError(`Expected \`${name}\` to be a finite number >= ${min}, ${got(value)}`);
  }
}

/** Durations that may be Infinity ("no limit") but must be > 0. */
export function assertPositiveDuration(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new TypeError(`Expected \`${name}\` to be a number of milliseconds > 0 (or Infinity), ${got(value)}`);
  }
}

export function assertOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new TypeError(
      `Expected \`${name}\` to be one of ${allowed.map((a) => `\`${a}\``).join(', ')}, ${got(value)}`,
    );
  }
}
