// The service's configuration (docs/configuration.md lists it): every variable is an env var
// and a CLI flag (`MAX_BATCH_SIZE` <-> `--max-batch-size`), parsed once, validated and frozen.
// This is the only module that reads the environment: main.ts passes process.env and argv in.
// An invalid value stops startup with a message naming the variable, the value and what is allowed.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ConfigValueError,
  boolean,
  decimal,
  integer,
  integerOneOf,
  oneOf,
  origin,
  portOrOff,
  text,
  type Parser,
} from './config-parsers.ts';
import { MODEL_NAME_ALLOWED, MODEL_NAME_PATTERN } from './classifier/model-name.ts';

interface Variable<T> {
  readonly env: string;
  readonly parser: Parser<T>;
  /** A function computes the default from the machine and the variables listed before this one. */
  readonly fallback: T | ((earlier: Readonly<Record<string, unknown>>) => T);
  readonly description: string;
  /** Where the default comes from (docs/configuration.md). */
  readonly source: string;
}

function variable<T>(
  env: string,
  parser: Parser<T>,
  fallback: T | ((earlier: Readonly<Record<string, unknown>>) => T),
  description: string,
  source: string,
): Variable<T> {
  return { env, parser, fallback, description, source };
}

const path = text(/^\S(.*\S)?$/, 'a non-empty path');
const modelName = text(MODEL_NAME_PATTERN, MODEL_NAME_ALLOWED);
const MIB = 1024 * 1024;

// Paths given in the environment or as flags are relative to the working directory (for `npm start`,
// npm's: the package folder). The defaults below name files of the package itself and resolve
// against it (this file is two folders down in src/ and in dist/), so `node dist/server/main.js`
// finds them from any working directory.
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE_DEFAULTS: ReadonlySet<string> = new Set(['modelPath', 'modelCacheDir']);

function inPackage(relative: string): string {
  return resolve(PACKAGE_ROOT, relative);
}

/** The default MODEL_PATH, resolved: built with seeded weights on first start when missing. */
export const DEFAULT_MODEL_PATH = inPackage('models/resnet50.onnx');
const MEASURED = 'measured on 2 CPU cores (docs/performance.md)';

/** Every configuration variable, in the order of the table in docs/configuration.md. */
export const CONFIG_VARIABLES = {
  port: variable('PORT', integer(0, 65535), 8080, 'TCP port (0 picks a free one)', "KServe's HTTP port"),
  host: variable(
    'HOST',
    text(/^[^\s/]+$/, 'a host name or IP address'),
    '127.0.0.1',
    'Listen address (the Docker image sets 0.0.0.0)',
    'loopback unless asked: nothing is exposed by default',
  ),
  grpcPort: variable(
    'GRPC_PORT',
    portOrOff(),
    8081,
    'TCP port of the KServe V2 gRPC API and gRPC health checking, on HOST (0 picks a free one)',
    "KServe's and Triton's gRPC port",
  ),
  modelPath: variable(
    'MODEL_PATH',
    path,
    'models/resnet50.onnx',
    'The .onnx model; its sidecar manifest sits next to it',
    'the embedded default, built with seeded weights on first start when missing',
  ),
  modelName: variable<string | undefined>(
    'MODEL_NAME',
    modelName,
    undefined,
    'Served name of the single model (MODEL_PATH) in responses and V2 URLs',
    "the manifest's name (e.g. resnet50, resnet18)",
  ),
  modelWeights: variable<string | undefined>(
    'MODEL_WEIGHTS',
    path,
    undefined,
    'A .safetensors file built into ONNX at start (replaces MODEL_PATH)',
    'off',
  ),
  modelCacheDir: variable(
    'MODEL_CACHE_DIR',
    path,
    'models/cache',
    "Where MODEL_WEIGHTS builds are cached, keyed by the weights' sha256",
    'git-ignored folder',
  ),
  modelDepth: variable(
    'MODEL_DEPTH',
    integerOneOf([18, 34, 50, 101, 152] as const),
    50,
    'ResNet depth of MODEL_WEIGHTS',
    'ResNet-50',
  ),
  modelVariant: variable(
    'MODEL_VARIANT',
    oneOf(['v1.5', 'v1'] as const),
    'v1.5',
    'Stride placement of MODEL_WEIGHTS (v1.5: torchvision/timm)',
    'torchvision/timm weights',
  ),
  modelWidth: variable('MODEL_WIDTH', decimal(0.01, 16), 1, 'Channel multiplier of MODEL_WEIGHTS', 'published widths'),
  modelClasses: variable(
    'MODEL_CLASSES',
    integer(1, 100_000),
    1000,
    'Classes of MODEL_WEIGHTS (1000: ImageNet labels)',
    'ImageNet',
  ),
  modelPrecision: variable(
    'MODEL_PRECISION',
    oneOf(['fp32', 'int8'] as const),
    'fp32',
    'Precision MODEL_WEIGHTS is built in (int8: calibrated QDQ, models/README.md)',
    'the weights as they are',
  ),
  modelCalibration: variable<string | undefined>(
    'MODEL_CALIBRATION',
    path,
    undefined,
    'Directory of calibration images for an int8 build of MODEL_WEIGHTS',
    'the built-in set (models/calibration)',
  ),
  modelRepository: variable<string | undefined>(
    'MODEL_REPOSITORY',
    path,
    undefined,
    'A model repository folder, DIR/<model>/<version>/model.onnx with model.json (replaces MODEL_PATH)',
    'off: one model from MODEL_PATH',
  ),
  modelControlMode: variable(
    'MODEL_CONTROL_MODE',
    oneOf(['none', 'explicit', 'poll'] as const),
    'none',
    'none: load the repository at start; explicit: also the load/unload API; poll: rescan it every REPOSITORY_POLL_SECONDS',
    "Triton's --model-control-mode",
  ),
  repositoryPollSeconds: variable(
    'REPOSITORY_POLL_SECONDS',
    decimal(0.1, 86_400),
    15,
    'How often poll mode rescans the repository',
    "Triton's --repository-poll-secs",
  ),
  defaultModel: variable<string | undefined>(
    'DEFAULT_MODEL',
    modelName,
    undefined,
    'Model that POST /predict uses without ?model= (else the only model served)',
    'the only model',
  ),
  repositoryApiToken: variable<string | undefined>(
    'REPOSITORY_API_TOKEN',
    text(/^[\x21-\x7e]{16,512}$/, '16 to 512 printable characters without spaces'),
    undefined,
    'Bearer token the load/unload API requires; without it the API answers loopback clients only',
    'unset: loopback clients only',
  ),
  executionProvider: variable(
    'EXECUTION_PROVIDER',
    oneOf(['cpu', 'cuda', 'auto'] as const),
    'cpu',
    'onnxruntime execution provider',
    'runs on every machine; cuda needs npm run install:cuda',
  ),
  cudaDeviceId: variable('CUDA_DEVICE_ID', integer(0, 63), 0, 'GPU index for the CUDA provider', 'first GPU'),
  modelInstances: variable(
    'MODEL_INSTANCES',
    integer(1, 64),
    1,
    "Sessions of each model computing batches at once, each on its own worker thread (Triton's instance_group count)",
    `${MEASURED}: one session on every core answers a lone image twice as fast (docs/engine.md, "Instances")`,
  ),
  intraOpThreads: variable(
    'INTRA_OP_THREADS',
    integer(1, 1024),
    (earlier) =>
      Math.max(1, Math.floor(availableParallelism() / ((earlier['modelInstances'] as number | undefined) ?? 1))),
    'onnxruntime intra-op threads of each instance',
    'available cores / MODEL_INSTANCES (docs/performance.md)',
  ),
  ortAllowSpinning: variable(
    'ORT_ALLOW_SPINNING',
    boolean(),
    false,
    'Let onnxruntime threads spin-wait after each run',
    'spinning cost 1.3x the CPU per image and competes with decoding and HTTP on shared cores (docs/engine.md, "Choosing settings")',
  ),
  maxBatchSize: variable(
    'MAX_BATCH_SIZE',
    integer(1, 64),
    8,
    'Largest batch sent to the model (every size up to it is warmed up at start)',
    `${MEASURED}: on CPU batching adds 5-9% images/s; 8 keeps a batch near 0.25 s`,
  ),
  maxBatchDelayMs: variable(
    'MAX_BATCH_DELAY_MS',
    decimal(0, 10_000),
    0,
    'How long a non-full batch may wait for company (0: dispatch when the worker is free)',
    `${MEASURED}: on CPU, batches fill while the worker computes; waiting only adds latency`,
  ),
  maxQueue: variable(
    'MAX_QUEUE',
    integer(1, 1_000_000),
    32,
    'Images waiting for the model beyond which requests get 503 QUEUE_FULL',
    `${MEASURED}: about 1 s of work; a longer queue adds latency, not throughput`,
  ),
  fullWaitMs: variable(
    'FULL_WAIT_MS',
    integer(0, 10_000),
    250,
    'How long a request that finds its model full waits in line for room, at least, before 503 QUEUE_FULL (0: refuse at once)',
    `${MEASURED}: paces clients that retry at once, so refusing them does not take the CPU the model needs`,
  ),
  maxRefusalsPerSecond: variable(
    'MAX_REFUSALS_PER_SECOND',
    integer(1, 1_000_000),
    50,
    "Rate the 503 QUEUE_FULL refusals are spread to: each request already waiting for room adds 1/this s to a new one's wait (up to REQUEST_TIMEOUT_MS)",
    `${MEASURED}: each refusal costs about 2.4 ms of CPU on the two sides; 50/s instead of 100/s gave 256 connections 5-10% more images/s`,
  ),
  requestTimeoutMs: variable(
    'REQUEST_TIMEOUT_MS',
    integer(1, 3_600_000),
    10_000,
    'Default deadline for an image in the queue (504 DEADLINE_EXCEEDED after it)',
    'ten times the time a full queue takes to drain',
  ),
  maxRequestTimeoutMs: variable(
    'MAX_REQUEST_TIMEOUT_MS',
    integer(1, 3_600_000),
    60_000,
    'Cap on the per-request deadline (header X-Request-Timeout-Ms or query timeout_ms)',
    'one minute',
  ),
  maxImageBytes: variable(
    'MAX_IMAGE_BYTES',
    integer(1),
    10 * MIB,
    'Largest encoded image (413 IMAGE_TOO_LARGE)',
    '10 MiB: phone photos are 2-8 MB',
  ),
  maxImagePixels: variable(
    'MAX_IMAGE_PIXELS',
    integer(1),
    40_000_000,
    'Largest width x height (413 IMAGE_TOO_MANY_PIXELS), read from the header before decoding',
    '40 MP: ~120 MB of RGB while decoding',
  ),
  maxImagesPerRequest: variable(
    'MAX_IMAGES_PER_REQUEST',
    integer(1, 10_000),
    32,
    'Most images (or tensor rows) in one request (413 TOO_MANY_IMAGES)',
    'four full batches',
  ),
  maxBodyBytes: variable(
    'MAX_BODY_BYTES',
    integer(1),
    64 * MIB,
    'Largest request body of any kind (413 BODY_TOO_LARGE)',
    'fits 32 images as base64 JSON or a binary V2 tensor of 32 rows',
  ),
  grpcMaxMessageBytes: variable<number | undefined>(
    'GRPC_MAX_MESSAGE_BYTES',
    integer(1024),
    undefined,
    'Largest gRPC message received or sent (RESOURCE_EXHAUSTED), checked from its length prefix before it is read',
    'MAX_BODY_BYTES: a ModelInferRequest is about as large as the same REST binary body',
  ),
  grpcMaxConcurrentStreams: variable(
    'GRPC_MAX_CONCURRENT_STREAMS',
    integer(1, 100_000),
    100,
    'Concurrent gRPC calls per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS)',
    'the smallest value HTTP/2 recommends (RFC 9113, section 6.5.2)',
  ),
  bodyTimeoutMs: variable(
    'BODY_TIMEOUT_MS',
    integer(1, 3_600_000),
    30_000,
    'Time a client has to send the whole request (408 REQUEST_TIMEOUT)',
    'guards against slow-body clients',
  ),
  shutdownTimeoutMs: variable(
    'SHUTDOWN_TIMEOUT_MS',
    integer(1, 3_600_000),
    20_000,
    'Bound on the graceful drain after SIGTERM/SIGINT',
    "inside Kubernetes' default 30 s grace period",
  ),
  sharpConcurrency: variable(
    'SHARP_CONCURRENCY',
    integer(1, 1024),
    1,
    "libvips threads per image (images also run in parallel on libuv's pool)",
    'docs/preprocessing.md, "Concurrency on cores shared with onnxruntime"',
  ),
  jpegDecoder: variable(
    'JPEG_DECODER',
    oneOf(['auto', 'libjpeg-turbo', 'sharp'] as const),
    'auto',
    'JPEG decoder: libjpeg-turbo (the system libturbojpeg, same bytes, a third of the CPU), sharp (libvips), auto (libjpeg-turbo when it loads)',
    'docs/preprocessing.md, "Decoding JPEG": the Docker images install the library and set libjpeg-turbo',
  ),
  logLevel: variable(
    'LOG_LEVEL',
    oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    'info',
    'pino log level (batch details at debug)',
    'pino',
  ),
  logFormat: variable(
    'LOG_FORMAT',
    oneOf(['auto', 'json', 'pretty'] as const),
    'auto',
    'Log lines: json (one object a line, time in epoch ms), pretty (readable), auto (pretty when stdout is a terminal)',
    'JSON for containers and log shippers, readable lines for a person at a terminal',
  ),
  corsOrigin: variable<string | undefined>(
    'CORS_ORIGIN',
    origin(),
    undefined,
    'Allowed CORS origin; CORS is off unless set',
    'off',
  ),
} as const;

type Variables = typeof CONFIG_VARIABLES;
export type Config = { readonly [K in keyof Variables]: Variables[K] extends Variable<infer T> ? T : never };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** `MAX_BATCH_SIZE` -> `max-batch-size` */
export function flagFor(env: string): string {
  return env.toLowerCase().replaceAll('_', '-');
}

/** Parses env vars and CLI flags (flags win) into a frozen Config; throws ConfigError listing every invalid value. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, argv: readonly string[] = []): Config {
  const flags = parseFlags(argv);
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const [key, spec] of Object.entries(CONFIG_VARIABLES) as [string, Variable<unknown>][]) {
    const flag = flagFor(spec.env);
    const fromFlag = flags[flag];
    const raw = fromFlag ?? env[spec.env];
    if (raw === undefined || (fromFlag === undefined && raw.trim() === '')) {
      const fallback =
        typeof spec.fallback === 'function'
          ? (spec.fallback as (earlier: Record<string, unknown>) => unknown)(config)
          : spec.fallback;
      config[key] = PACKAGE_DEFAULTS.has(key) ? inPackage(fallback as string) : fallback;
      continue;
    }
    given.add(spec.env);
    try {
      config[key] = spec.parser.parse(raw);
    } catch (err) {
      if (!(err instanceof ConfigValueError)) throw err;
      const name = fromFlag === undefined ? spec.env : `--${flag}`;
      problems.push(`${name}=${JSON.stringify(raw)} is invalid: expected ${err.message}`);
    }
  }
  problems.push(...crossChecks(config as Config), ...repositoryChecks(config as Config, given));
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  return Object.freeze(config as Config);
}

function crossChecks(config: Config): string[] {
  const problems: string[] = [];
  if (config.requestTimeoutMs > config.maxRequestTimeoutMs) {
    problems.push(
      `REQUEST_TIMEOUT_MS=${config.requestTimeoutMs} is invalid: expected at most MAX_REQUEST_TIMEOUT_MS (${config.maxRequestTimeoutMs})`,
    );
  }
  if (
    config.modelWeights === undefined &&
    (config.modelPrecision !== 'fp32' || config.modelCalibration !== undefined)
  ) {
    problems.push(
      'MODEL_PRECISION and MODEL_CALIBRATION apply to builds of MODEL_WEIGHTS, which is not set (a MODEL_PATH model is served as it is; build an int8 one with `npm run build:model -- --precision int8`)',
    );
  }
  if (config.modelCalibration !== undefined && config.modelPrecision !== 'int8') {
    problems.push(
      `MODEL_CALIBRATION is set, but MODEL_PRECISION is ${config.modelPrecision}: calibration is for int8 builds`,
    );
  }
  if (config.grpcPort !== 'off' && config.grpcPort !== 0 && config.grpcPort === config.port)
    problems.push(`GRPC_PORT=${config.grpcPort} is invalid: expected a port other than PORT (${config.port}), or off`);
  if (config.maxImageBytes > config.maxBodyBytes) {
    problems.push(
      `MAX_IMAGE_BYTES=${config.maxImageBytes} is invalid: expected at most MAX_BODY_BYTES (${config.maxBodyBytes})`,
    );
  }
  return problems;
}

/** Settings that only make sense with (or without) a model repository. */
function repositoryChecks(config: Config, given: ReadonlySet<string>): string[] {
  const repository = config.modelRepository !== undefined;
  const single = ['MODEL_PATH', 'MODEL_NAME', 'MODEL_WEIGHTS'].filter((env) => given.has(env));
  if (repository && single.length > 0)
    return [
      `${single.join(', ')} ${single.length === 1 ? 'is' : 'are'} invalid with MODEL_REPOSITORY: the repository's folders name the models and their files`,
    ];
  if (!repository && config.modelControlMode !== 'none')
    return [`MODEL_CONTROL_MODE=${config.modelControlMode} is invalid: expected a MODEL_REPOSITORY to control`];
  return [];
}

function parseFlags(argv: readonly string[]): Record<string, string | undefined> {
  const options = Object.fromEntries(
    Object.values(CONFIG_VARIABLES).map((spec) => [flagFor(spec.env), { type: 'string' as const }]),
  );
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | undefined
    >;
  } catch (err) {
    throw new ConfigError(`Invalid command line: ${(err as Error).message}`);
  }
}

/** The help text for `--help`: every flag, its env var, allowed values and default. */
export function configHelp(): string {
  const lines = Object.values(CONFIG_VARIABLES).map((spec: Variable<unknown>) => {
    const fallback = typeof spec.fallback === 'function' ? spec.source : String(spec.fallback ?? 'unset');
    return `  --${flagFor(spec.env)} (${spec.env}): ${spec.description}. ${spec.parser.allowed}; default ${fallback}`;
  });
  return ['Usage: npm start -- [--flag value ...]', ...lines].join('\n');
}
