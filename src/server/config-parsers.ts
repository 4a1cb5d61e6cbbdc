// Parsers for configuration values. Each turns the raw string of an env var or CLI flag into a
// typed value, or throws a ConfigValueError saying what is allowed; config.ts adds the name and
// the value to the message.

export class ConfigValueError extends Error {}

export interface Parser<T> {
  readonly parse: (raw: string) => T;
  /** What the value may be, for error messages and the table in docs/configuration.md. */
  readonly allowed: string;
}

export function integer(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  const allowed = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  return {
    allowed,
    parse(raw) {
      const value = Number(raw.trim());
      if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
        throw new ConfigValueError(allowed);
      }
      return value;
    },
  };
}

export function decimal(min: number, max: number): Parser<number> {
  const allowed = `a number from ${min} to ${max}`;
  return {
    allowed,
    parse(raw) {
      const value = Number(raw.trim());
      if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
        throw new ConfigValueError(allowed);
      }
      return value;
    },
  };
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

export function boolean(): Parser<boolean> {
  const allowed = 'true or false (also 1/0, yes/no, on/off)';
  return {
    allowed,
    parse(raw) {
      const value = raw.trim().toLowerCase();
      if (TRUE.has(value)) return true;
      if (FALSE.has(value)) return false;
      throw new ConfigValueError(allowed);
    },
  };
}

export function oneOf<const T extends string>(choices: readonly T[]): Parser<T> {
  const allowed = `one of ${choices.join(', ')}`;
  return {
    allowed,
    parse(raw) {
      const value = raw.trim();
      if (!(choices as readonly string[]).includes(value)) throw new ConfigValueError(allowed);
      return value as T;
    },
  };
}

export function integerOneOf<const T extends number>(choices: readonly T[]): Parser<T> {
  const allowed = `one of ${choices.join(', ')}`;
  return {
    allowed,
    parse(raw) {
      const value = Number(raw.trim());
      if (!(choices as readonly number[]).includes(value) || !/^\d+$/.test(raw.trim()))
        throw new ConfigValueError(allowed);
      return value as T;
    },
  };
}

export function text(pattern: RegExp, allowed: string): Parser<string> {
  return {
    allowed,
    parse(raw) {
      const value = raw.trim();
      if (!pattern.test(value)) throw new ConfigValueError(allowed);
      return value;
    },
  };
}

/** An origin for CORS: `*` or a scheme://host[:port] without a path. */
export function origin(): Parser<string> {
  const allowed = '* or an origin such as https://example.com';
  return {
    allowed,
    parse(raw) {
      const value = raw.trim();
      if (value === '*') return value;
      try {
        const url = new URL(value);
        if ((url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value) return value;
      } catch {
        // falls through to the error below
      }
      throw new ConfigValueError(allowed);
    },
  };
}

/** A TCP port, or `off` (the listener is not started). */
export function portOrOff(): Parser<number | 'off'> {
  const port = integer(0, 65535);
  const allowed = `${port.allowed}, or off`;
  return {
    allowed,
    parse(raw) {
      if (raw.trim().toLowerCase() === 'off') return 'off';
      try {
        return port.parse(raw);
      } catch {
        throw new ConfigValueError(allowed);
      }
    },
  };
}
