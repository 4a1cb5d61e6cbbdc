// Command-line parsing for `npm run load` and `npm run bench` (node:util parseArgs, strict).
// Every value is validated here, so the runners only see bounded, well-formed options: load
// traffic stays on loopback, and every run is bounded in time and in requests.
import { parseArgs } from 'node:util';

export const BODY_KINDS = ['multipart', 'raw', 'json', 'v2-binary'] as const;
export type BodyKind = (typeof BODY_KINDS)[number];

export const LIMITS = {
  connections: { min: 1, max: 2048 },
  durationS: { min: 1, max: 600 },
  amount: { min: 1, max: 200_000 },
  warmupS: { min: 0, max: 60 },
  rounds: { min: 1, max: 10 },
  timeoutS: { min: 1, max: 120 },
  imagesPerRequest: { min: 1, max: 64 },
  /** Server starts times connection counts: one autocannon run each. */
  runs: { min: 1, max: 32 },
} as const;

export const DEFAULT_MODEL_PATH = 'models/resnet50.onnx';
export const DEFAULT_INT8_MODEL_PATH = 'models/resnet50-int8.onnx';
export const DEFAULT_REPORT_DIR = 'load/reports';

export interface Vary {
  readonly key: string;
  readonly values: readonly string[];
}

export interface LoadArgs {
  /** Base URL of a running service; absent: the script starts one on 127.0.0.1. */
  readonly url: string | undefined;
  /** One run per value, in order. */
  readonly connections: readonly number[];
  /** Exactly one of durationS and amount bounds a run; amount runs are also capped by maxSeconds. */
  readonly durationS: number | undefined;
  readonly amount: number | undefined;
  readonly maxSeconds: number;
  readonly warmupS: number;
  readonly timeoutS: number;
  readonly image: string | undefined;
  readonly body: BodyKind;
  readonly imagesPerRequest: number;
  /** Environment of the server this script starts. */
  readonly env: Readonly<Record<string, string>>;
  /** One server per value of this variable, everything else equal: a comparison of settings. */
  readonly vary: Vary | undefined;
  readonly modelPath: string;
  readonly modelName: string;
  readonly outDir: string;
  readonly help: boolean;
}

export interface BenchArgs {
  readonly only: readonly number[];
  readonly durationS: number;
  readonly warmupS: number;
  /** Connections that saturate the service; absent: found by a short ramp (measurement 4). */
  readonly saturate: number | undefined;
  /** Alternating HTTP / raw-engine window pairs of measurement 1 (the median ratio is reported). */
  readonly rounds: number;
  /** Connection counts of the batching comparison (measurement 2). */
  readonly connections: readonly number[];
  readonly image: string | undefined;
  readonly modelPath: string;
  /** The int8 model measurement 1 also compares with the raw engine; absent with `--int8-model none`. */
  readonly int8ModelPath: string | undefined;
  readonly outDir: string;
  readonly help: boolean;
}

export const BENCH_MEASUREMENTS = [1, 2, 3, 4] as const;

/** A usage error: the message says which flag, what was given and what is allowed. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

/** True for http(s) URLs whose host is 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackUrl(url: URL): boolean {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (LOOPBACK_HOSTS.has(url.hostname)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname);
}

/** Validates a base URL: loopback only, no path, query or credentials. Returns it without a trailing slash. */
export function parseBaseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`Expected \`--url\` to be a URL such as http://127.0.0.1:8080, got \`${text}\``);
  }
  if (!isLoopbackUrl(url)) {
    throw new UsageError(
      `Refusing to send load to \`${text}\`: only loopback http(s) URLs (127.0.0.0/8, [::1], localhost) are allowed`,
    );
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new UsageError(
      `Expected \`--url\` to be the service's base URL (e.g. http://127.0.0.1:8080), got \`${text}\``,
    );
  }
  return url.origin;
}

export function parseIntInRange(flag: string, text: string, range: { min: number; max: number }): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw new UsageError(`Expected \`${flag}\` to be an integer from ${range.min} to ${range.max}, got \`${text}\``);
  }
  return value;
}

/** "1,8,32" -> [1, 8, 32]; each value in range, no duplicates. */
export function parseIntList(flag: string, text: string, range: { min: number; max: number }): number[] {
  const values = text.split(',').map((part) => parseIntInRange(flag, part, range));
  if (new Set(values).size !== values.length) {
    throw new UsageError(`Expected \`${flag}\` to list distinct values, got \`${text}\``);
  }
  return values;
}

const ENV_KEY = /^[A-Z][A-Z0-9_]*$/;

/** ["K=V", ...] -> { K: V }; keys are upper-case env names, each given once. */
export function parseEnvPairs(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq) : '';
    if (!ENV_KEY.test(key)) {
      throw new UsageError(`Expected \`--env\` as NAME=VALUE with an upper-case NAME, got \`${pair}\``);
    }
    if (key in env) throw new UsageError(`\`--env ${key}\` is given twice`);
    env[key] = pair.slice(eq + 1);
  }
  return env;
}

/** "MAX_BATCH_SIZE=1,8" -> { key, values: ['1', '8'] }. */
export function parseVary(text: string): Vary {
  const eq = text.indexOf('=');
  const key = eq > 0 ? text.slice(0, eq) : '';
  const values = text.slice(eq + 1).split(',');
  if (
    !ENV_KEY.test(key) ||
    values.length < 2 ||
    values.some((v) => v === '') ||
    new Set(values).size !== values.length
  ) {
    throw new UsageError(`Expected \`--vary\` as NAME=V1,V2[,...] with distinct values, got \`${text}\``);
  }
  return { key, values };
}

function parseBodyKind(text: string): BodyKind {
  const kind = BODY_KINDS.find((k) => k === text);
  if (kind === undefined)
    throw new UsageError(`Expected \`--body\` to be one of ${BODY_KINDS.join(', ')}, got \`${text}\``);
  return kind;
}

/** Runs node's parseArgs and turns its errors (unknown flag, missing value) into UsageErrors. */
function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** One server configuration of a load run: a label for reports and the env it starts with. */
export interface Setting {
  readonly label: string;
  readonly env: Readonly<Record<string, string>>;
}

/** The settings a load run compares: one per --vary value, or just the --env (or --url) given. */
export function settingsOf(args: LoadArgs): Setting[] {
  const base = Object.entries(args.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  if (args.vary === undefined)
    return [{ label: args.url !== undefined ? args.url : base || 'defaults', env: args.env }];
  const { key, values } = args.vary;
  return values.map((value) => ({
    label: [`${key}=${value}`, base].filter(Boolean).join(' '),
    env: { ...args.env, [key]: value },
  }));
}

const LOAD_OPTIONS = {
  url: { type: 'string' },
  connections: { type: 'string', short: 'c', default: '8' },
  duration: { type: 'string', short: 'd' },
  amount: { type: 'string', short: 'a' },
  'max-seconds': { type: 'string', default: '300' },
  warmup: { type: 'string', default: '2' },
  timeout: { type: 'string', default: '30' },
  image: { type: 'string' },
  body: { type: 'string', short: 'b', default: 'multipart' },
  'images-per-request': { type: 'string', default: '1' },
  env: { type: 'string', short: 'e', multiple: true, default: [] as string[] },
  vary: { type: 'string' },
  model: { type: 'string', default: DEFAULT_MODEL_PATH },
  'model-name': { type: 'string' },
  out: { type: 'string', default: DEFAULT_REPORT_DIR },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export function parseLoadArgs(argv: readonly string[]): LoadArgs {
  const v = asUsage(() => parseArgs({ args: [...argv], options: LOAD_OPTIONS, strict: true })).values;
  if (v.duration !== undefined && v.amount !== undefined) {
    throw new UsageError('Give either `--duration` or `--amount`, not both');
  }
  const url = v.url === undefined ? undefined : parseBaseUrl(v.url);
  const env = parseEnvPairs(v.env);
  const vary = v.vary === undefined ? undefined : parseVary(v.vary);
  if (url !== undefined && (Object.keys(env).length > 0 || vary !== undefined)) {
    throw new UsageError(
      '`--env` and `--vary` configure the server this script starts; they cannot be combined with `--url`',
    );
  }
  if (vary !== undefined && vary.key in env)
    throw new UsageError(`\`${vary.key}\` is given both in \`--env\` and \`--vary\``);
  const connections = parseIntList('--connections', v.connections, LIMITS.connections);
  const runs = connections.length * (vary?.values.length ?? 1);
  if (runs > LIMITS.runs.max) {
    throw new UsageError(`At most ${LIMITS.runs.max} runs (settings x connection counts) per invocation, got ${runs}`);
  }
  const body = parseBodyKind(v.body);
  const imagesPerRequest = parseIntInRange('--images-per-request', v['images-per-request'], LIMITS.imagesPerRequest);
  if (body === 'raw' && imagesPerRequest > 1) throw new UsageError('A `--body raw` request carries exactly one image');
  return {
    url,
    connections,
    durationS: v.amount === undefined ? parseIntInRange('--duration', v.duration ?? '10', LIMITS.durationS) : undefined,
    amount: v.amount === undefined ? undefined : parseIntInRange('--amount', v.amount, LIMITS.amount),
    maxSeconds: parseIntInRange('--max-seconds', v['max-seconds'], LIMITS.durationS),
    warmupS: parseIntInRange('--warmup', v.warmup, LIMITS.warmupS),
    timeoutS: parseIntInRange('--timeout', v.timeout, LIMITS.timeoutS),
    image: v.image,
    body,
    imagesPerRequest,
    env,
    vary,
    modelPath: v.model,
    modelName: v['model-name'] ?? env['MODEL_NAME'] ?? 'resnet50',
    outDir: v.out,
    help: v.help,
  };
}

const BENCH_OPTIONS = {
  only: { type: 'string', default: BENCH_MEASUREMENTS.join(',') },
  duration: { type: 'string', short: 'd', default: '10' },
  warmup: { type: 'string', default: '2' },
  saturate: { type: 'string' },
  rounds: { type: 'string', default: '3' },
  connections: { type: 'string', short: 'c', default: '1,8,32' },
  image: { type: 'string' },
  model: { type: 'string', default: DEFAULT_MODEL_PATH },
  'int8-model': { type: 'string', default: DEFAULT_INT8_MODEL_PATH },
  out: { type: 'string', default: DEFAULT_REPORT_DIR },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const v = asUsage(() => parseArgs({ args: [...argv], options: BENCH_OPTIONS, strict: true })).values;
  const only = parseIntList('--only', v.only, { min: 1, max: BENCH_MEASUREMENTS.length }).sort((a, b) => a - b);
  return {
    only,
    durationS: parseIntInRange('--duration', v.duration, LIMITS.durationS),
    warmupS: parseIntInRange('--warmup', v.warmup, LIMITS.warmupS),
    // 8x this many connections is the overload of measurement 4, so it must stay within the limit.
    saturate:
      v.saturate === undefined
        ? undefined
        : parseIntInRange('--saturate', v.saturate, { min: 1, max: LIMITS.connections.max / 8 }),
    rounds: parseIntInRange('--rounds', v.rounds, LIMITS.rounds),
    connections: parseIntList('--connections', v.connections, LIMITS.connections),
    image: v.image,
    modelPath: v.model,
    int8ModelPath: v['int8-model'] === 'none' ? undefined : v['int8-model'],
    outDir: v.out,
    help: v.help,
  };
}

export const LOAD_USAGE = `Usage: npm run load -- [options]
  --url URL                 base URL of a running service (loopback only); default: start one on 127.0.0.1
  -c, --connections N[,N]   concurrent connections, one run per value (default 8)
  -d, --duration S          seconds per run (default 10, at most ${LIMITS.durationS.max})
  -a, --amount N            requests per run instead of a duration (at most ${LIMITS.amount.max})
  --max-seconds S           time cap of an --amount run (default 300)
  --warmup S                unmeasured warm-up before each run (default 2)
  --timeout S               per-request timeout (default 30)
  --image FILE              image to send (default: the 500x375 JPEG fixture, or a generated one)
  -b, --body KIND           ${BODY_KINDS.join(' | ')} (default multipart)
  --images-per-request N    images in one request (default 1; raw carries one)
  -e, --env K=V             environment of the started server (repeatable)
  --vary K=V1,V2            start one server per value and compare them (chart in the report)
  --model PATH              model of the started server (default ${DEFAULT_MODEL_PATH}; built if missing)
  --model-name NAME         model name in V2 paths (default MODEL_NAME or resnet50)
  --out DIR                 report directory (default ${DEFAULT_REPORT_DIR})`;

export const BENCH_USAGE = `Usage: npm run bench -- [options]
  --only 1,2,3,4            which measurements (1 HTTP vs engine, 2 batching on/off, 3 health p99, 4 overload)
  -d, --duration S          seconds per measured window (default 10)
  --warmup S                unmeasured warm-up before each window (default 2)
  --saturate N              connections that saturate the service (default: 32 for 1 and 3; a ramp finds it for 4)
  --rounds N                alternating HTTP / raw-engine window pairs of measurement 1 (default 3; median ratio)
  -c, --connections N,N     connection counts of measurement 2 (default 1,8,32)
  --image FILE              image to send (default: the 500x375 JPEG fixture, or a generated one)
  --model PATH              model (default ${DEFAULT_MODEL_PATH}; built if missing)
  --int8-model PATH|none    int8 model measurement 1 also runs (default ${DEFAULT_INT8_MODEL_PATH}; built if missing)
  --out DIR                 report directory (default ${DEFAULT_REPORT_DIR})`;

/** Runs a script's main: a UsageError prints the message and the usage (exit code 2), anything else the error (1). */
export function runCli(main: () => Promise<void>, usage: string): void {
  main().catch((err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${usage}`);
      process.exitCode = 2;
      return;
    }
    console.error(err);
    process.exitCode = 1;
  });
}
