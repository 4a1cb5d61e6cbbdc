// The command line of every load/ script, in one place: each script declares a table of flags,
// node:util parseArgs reads it (strict: an unknown flag, a missing value or a stray argument is an
// error), each value is checked against its kind and bounds, and the usage text is written from
// the same table, so --help cannot drift from what is parsed.
import { parseArgs } from 'node:util';

/** A usage error: the message says which flag, what was given and what is allowed. */
export class UsageError extends Error {
  override name = 'UsageError';
}

interface FlagBase {
  /** One letter: `c` makes -c an alias of --connections. */
  readonly short?: string;
  /** Placeholder of the value in the usage text (N, FILE, URL). */
  readonly value?: string;
  readonly help: string;
  /** Shown as the default when there is no fixed one, e.g. `start one on 127.0.0.1`. */
  readonly defaultText?: string;
}

interface Bounds {
  readonly min: number;
  readonly max: number;
}

export interface IntFlag extends FlagBase, Bounds {
  readonly kind: 'int';
  readonly default?: number;
}
export interface NumberFlag extends FlagBase, Bounds {
  readonly kind: 'number';
  readonly default?: number;
}
/** `1,8,32`: distinct integers, each within the bounds. */
export interface IntListFlag extends FlagBase, Bounds {
  readonly kind: 'int-list';
  readonly default?: readonly number[];
}
export interface ChoiceFlag extends FlagBase {
  readonly kind: 'choice';
  readonly choices: readonly string[];
  readonly default?: string;
}
export interface StringFlag extends FlagBase {
  readonly kind: 'string';
  readonly default?: string;
}
/** Given any number of times: `--env A=1 --env B=2`. */
export interface RepeatedFlag extends FlagBase {
  readonly kind: 'repeated';
}
/** The base URL of a running service: loopback only, so load never leaves the machine. */
export interface UrlFlag extends FlagBase {
  readonly kind: 'url';
}

export type Flag = IntFlag | NumberFlag | IntListFlag | ChoiceFlag | StringFlag | RepeatedFlag | UrlFlag;
export type Flags = Readonly<Record<string, Flag>>;

type ValueOf<F extends Flag> = F extends IntFlag | NumberFlag
  ? number
  : F extends IntListFlag
    ? number[]
    : F extends { readonly kind: 'choice'; readonly choices: readonly (infer C)[] }
      ? C
      : string;

/** The parsed values, by flag name: a flag without a default may be undefined; a repeated one is a list. */
export type FlagValues<F extends Flags> = {
  -readonly [K in keyof F]: F[K] extends RepeatedFlag
    ? string[]
    : F[K] extends { readonly default: unknown }
      ? ValueOf<F[K]>
      : ValueOf<F[K]> | undefined;
};

export interface Command<F extends Flags> {
  /** How it is started, e.g. `npm run load`. */
  readonly name: string;
  /** What it does, in a line or two. */
  readonly summary: string;
  readonly flags: F;
}

/** Declares a script's command line; `const` keeps the literal types that FlagValues reads. */
export function command<const F extends Flags>(spec: Command<F>): Command<F> {
  if ('help' in spec.flags) throw new Error("--help is every command's own flag");
  return spec;
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

/** True for http(s) URLs whose host is 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackUrl(url: URL): boolean {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (LOOPBACK_HOSTS.has(url.hostname)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname);
}

/** Validates a base URL: loopback only, no path, query or credentials. Returns it without a trailing slash. */
export function parseBaseUrl(text: string, flag = '--url'): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`Expected \`${flag}\` to be a URL such as http://127.0.0.1:8080, got \`${text}\``);
  }
  if (!isLoopbackUrl(url)) {
    throw new UsageError(
      `Refusing to send load to \`${text}\`: only loopback http(s) URLs (127.0.0.0/8, [::1], localhost) are allowed`,
    );
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new UsageError(
      `Expected \`${flag}\` to be the service's base URL (e.g. http://127.0.0.1:8080), got \`${text}\``,
    );
  }
  return url.origin;
}

export function parseIntInRange(flag: string, text: string, range: Bounds): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw new UsageError(`Expected \`${flag}\` to be an integer from ${range.min} to ${range.max}, got \`${text}\``);
  }
  return value;
}

function parseNumberInRange(flag: string, text: string, range: Bounds): number {
  const value = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(value >= range.min && value <= range.max)) {
    throw new UsageError(`Expected \`${flag}\` to be a number from ${range.min} to ${range.max}, got \`${text}\``);
  }
  return value;
}

/** "1,8,32" -> [1, 8, 32]; each value in range, no duplicates. */
export function parseIntList(flag: string, text: string, range: Bounds): number[] {
  const values = text.split(',').map((part) => parseIntInRange(flag, part, range));
  if (new Set(values).size !== values.length) {
    throw new UsageError(`Expected \`${flag}\` to list distinct values, got \`${text}\``);
  }
  return values;
}

function parseChoice(flag: string, text: string, choices: readonly string[]): string {
  if (!choices.includes(text)) {
    throw new UsageError(`Expected \`${flag}\` to be one of ${choices.join(', ')}, got \`${text}\``);
  }
  return text;
}

function valueOf(name: string, flag: Flag, given: string | string[] | undefined): unknown {
  if (flag.kind === 'repeated') return given ?? [];
  if (given === undefined) {
    const fallback = 'default' in flag ? flag.default : undefined;
    return Array.isArray(fallback) ? [...fallback] : fallback;
  }
  const text = String(given);
  const label = `--${name}`;
  switch (flag.kind) {
    case 'int':
      return parseIntInRange(label, text, flag);
    case 'number':
      return parseNumberInRange(label, text, flag);
    case 'int-list':
      return parseIntList(label, text, flag);
    case 'choice':
      return parseChoice(label, text, flag.choices);
    case 'url':
      return parseBaseUrl(text, label);
    case 'string':
      return text;
  }
}

/** Reads argv against a command's flags; throws a UsageError that names the flag at fault. */
export function parseFlags<F extends Flags>(
  cmd: Command<F>,
  argv: readonly string[],
): { help: boolean; values: FlagValues<F> } {
  const options = Object.fromEntries(
    Object.entries(cmd.flags).map(([name, flag]) => [
      name,
      { type: 'string' as const, multiple: flag.kind === 'repeated', ...(flag.short ? { short: flag.short } : {}) },
    ]),
  );
  let raw: Record<string, string | string[] | boolean | undefined>;
  try {
    raw = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }).values;
  } catch (err) {
    // node's own messages name the flag: "Unknown option '--rate'", "Unexpected argument 'extra'".
    throw new UsageError((err as Error).message);
  }
  const values = Object.fromEntries(
    Object.entries(cmd.flags).map(([name, flag]) => [name, valueOf(name, flag, raw[name] as string | string[])]),
  );
  return { help: raw['help'] === true, values: values as FlagValues<F> };
}

const PLACEHOLDERS: Readonly<Record<Flag['kind'], string>> = {
  int: 'N',
  number: 'X',
  'int-list': 'N[,N...]',
  choice: 'KIND',
  string: 'TEXT',
  repeated: 'K=V',
  url: 'URL',
};

function describe(flag: Flag): string {
  const notes: string[] = [];
  if ('min' in flag) notes.push(`${flag.min} to ${flag.max}`);
  if (flag.kind === 'choice') notes.push(flag.choices.join(' | '));
  if (flag.kind === 'repeated') notes.push('repeatable');
  const fixed = 'default' in flag && flag.default !== undefined ? String(flag.default) : undefined;
  const shown = flag.defaultText ?? fixed;
  if (shown !== undefined) notes.push(`default: ${shown}`);
  return notes.length > 0 ? `${flag.help} (${notes.join('; ')})` : flag.help;
}

/** The usage text, written from the flag table. */
export function usage(cmd: Command<Flags>): string {
  const rows: [string, string][] = Object.entries(cmd.flags).map(([name, flag]) => {
    const alias = flag.short ? `-${flag.short}, ` : '    ';
    return [`${alias}--${name} ${flag.value ?? PLACEHOLDERS[flag.kind]}`, describe(flag)];
  });
  rows.push(['-h, --help', 'print this and exit']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [`Usage: ${cmd.name} -- [options]`, cmd.summary, '', ...rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`)].join(
    '\n',
  );
}

/**
 * A script's options from process.argv: --help prints the usage and exits 0; a bad or conflicting
 * flag prints what is wrong and the usage, and exits 2. `check` turns the flag values into the
 * script's options and may throw a UsageError for flags that do not go together.
 */
export function commandLine<F extends Flags, T = FlagValues<F>>(
  cmd: Command<F>,
  check: (values: FlagValues<F>) => T = (values) => values as T,
  argv: readonly string[] = process.argv.slice(2),
): T {
  try {
    const { help, values } = parseFlags(cmd, argv);
    if (help) {
      console.log(usage(cmd));
      process.exit(0);
    }
    return check(values);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n\n${usage(cmd)}`);
    process.exit(2);
  }
}
