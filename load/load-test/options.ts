// The command line of `npm run load`. Every value is validated here, so the runner only sees
// bounded, well-formed options: load traffic stays on loopback, and every run is bounded in time
// and in requests.
import { BODY_KINDS, type BodyKind } from '../lib/bodies.ts';
import { RUN_LIMITS } from '../lib/cannon.ts';
import { UsageError, command, parseFlags, type FlagValues } from '../lib/cli.ts';
import { DEFAULT_REPORT_DIR } from '../lib/report.ts';
import { DEFAULT_MODEL_PATH } from '../lib/server.ts';

export const LIMITS = {
  ...RUN_LIMITS,
  imagesPerRequest: { min: 1, max: 64 },
  /** Server starts times connection counts: one autocannon run each. */
  runs: { min: 1, max: 32 },
} as const;

const DEFAULT_DURATION_S = 10;

export const PROTOCOLS = ['http', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const LOAD_COMMAND = command({
  name: 'npm run load',
  summary:
    'Autocannon against the service on loopback, bounded in time and requests; without --url it starts the\nservice itself. Reports (JSON, Markdown, SVG) go to --out.',
  flags: {
    url: {
      kind: 'url',
      help: 'base URL of a running service, loopback only',
      defaultText: 'start one on 127.0.0.1',
    },
    connections: {
      kind: 'int-list',
      short: 'c',
      ...LIMITS.connections,
      default: [8],
      help: 'concurrent connections, one run per value',
    },
    duration: {
      kind: 'int',
      short: 'd',
      value: 'S',
      ...LIMITS.durationS,
      help: 'seconds per run',
      defaultText: String(DEFAULT_DURATION_S),
    },
    amount: { kind: 'int', short: 'a', ...LIMITS.amount, help: 'requests per run instead of a duration' },
    'max-seconds': { kind: 'int', value: 'S', ...LIMITS.durationS, default: 300, help: 'time cap of an --amount run' },
    warmup: { kind: 'int', value: 'S', ...LIMITS.warmupS, default: 2, help: 'unmeasured warm-up before each run' },
    timeout: { kind: 'int', value: 'S', ...LIMITS.timeoutS, default: 30, help: 'per-request timeout' },
    image: {
      kind: 'string',
      value: 'FILE',
      help: 'image to send',
      defaultText: 'the 500x375 JPEG fixture, or a generated one',
    },
    body: { kind: 'choice', short: 'b', choices: BODY_KINDS, default: 'multipart', help: 'request body' },
    protocol: {
      kind: 'choice',
      choices: PROTOCOLS,
      default: 'http',
      help: 'http, or grpc: ModelInfer on the KServe V2 gRPC API (--body v2-binary: FP32 tensors; multipart or raw: the image as BYTES)',
    },
    'grpc-port': {
      kind: 'int',
      min: 1,
      max: 65535,
      help: 'gRPC port of the --url service (its GRPC_PORT) for --protocol grpc',
      defaultText: "the started server's",
    },
    'images-per-request': {
      kind: 'int',
      ...LIMITS.imagesPerRequest,
      default: 1,
      help: 'images in one request; raw carries one',
    },
    env: { kind: 'repeated', short: 'e', help: 'environment of the started server' },
    vary: {
      kind: 'string',
      value: 'K=V1,V2',
      help: 'start one server per value and compare them (chart in the report)',
    },
    model: {
      kind: 'string',
      value: 'PATH',
      default: DEFAULT_MODEL_PATH,
      help: 'model of the started server, built if missing',
    },
    'model-name': {
      kind: 'string',
      value: 'NAME',
      help: 'model name in V2 paths',
      defaultText: 'MODEL_NAME or resnet50',
    },
    out: { kind: 'string', value: 'DIR', default: DEFAULT_REPORT_DIR, help: 'report directory' },
  },
});

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
  readonly protocol: Protocol;
  /** gRPC port of a --url service. */
  readonly grpcPort: number | undefined;
  readonly imagesPerRequest: number;
  /** Environment of the server this script starts. */
  readonly env: Readonly<Record<string, string>>;
  /** One server per value of this variable, everything else equal: a comparison of settings. */
  readonly vary: Vary | undefined;
  readonly modelPath: string;
  readonly modelName: string;
  readonly outDir: string;
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

/** The flag values as the runner's options, refusing flags that do not go together. */
export function toLoadArgs(v: FlagValues<typeof LOAD_COMMAND.flags>): LoadArgs {
  if (v.duration !== undefined && v.amount !== undefined) {
    throw new UsageError('Give either `--duration` or `--amount`, not both');
  }
  const env = parseEnvPairs(v.env);
  const vary = v.vary === undefined ? undefined : parseVary(v.vary);
  if (v.url !== undefined && (Object.keys(env).length > 0 || vary !== undefined)) {
    throw new UsageError(
      '`--env` and `--vary` configure the server this script starts; they cannot be combined with `--url`',
    );
  }
  if (vary !== undefined && vary.key in env)
    throw new UsageError(`\`${vary.key}\` is given both in \`--env\` and \`--vary\``);
  const runs = v.connections.length * (vary?.values.length ?? 1);
  if (runs > LIMITS.runs.max) {
    throw new UsageError(`At most ${LIMITS.runs.max} runs (settings x connection counts) per invocation, got ${runs}`);
  }
  if (v.body === 'raw' && v['images-per-request'] > 1)
    throw new UsageError('A `--body raw` request carries exactly one image');
  if (v.protocol === 'grpc' && v.body === 'json')
    throw new UsageError(
      '`--protocol grpc` sends FP32 tensors (`--body v2-binary`) or images as BYTES (multipart, raw)',
    );
  if (v.protocol === 'grpc' && v.url !== undefined && v['grpc-port'] === undefined)
    throw new UsageError("`--protocol grpc` with `--url` needs the service's gRPC port: `--grpc-port N`");
  if (v['grpc-port'] !== undefined && (v.protocol !== 'grpc' || v.url === undefined))
    throw new UsageError('`--grpc-port` names the gRPC port of a `--url` service for `--protocol grpc`');
  return {
    url: v.url,
    connections: v.connections,
    durationS: v.amount === undefined ? (v.duration ?? DEFAULT_DURATION_S) : undefined,
    amount: v.amount,
    maxSeconds: v['max-seconds'],
    warmupS: v.warmup,
    timeoutS: v.timeout,
    image: v.image,
    body: v.body,
    protocol: v.protocol,
    grpcPort: v['grpc-port'],
    imagesPerRequest: v['images-per-request'],
    env,
    vary,
    modelPath: v.model,
    modelName: v['model-name'] ?? env['MODEL_NAME'] ?? 'resnet50',
    outDir: v.out,
  };
}

export function parseLoadArgs(argv: readonly string[]): LoadArgs {
  return toLoadArgs(parseFlags(LOAD_COMMAND, argv).values);
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
