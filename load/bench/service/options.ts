// The command line of `npm run bench`: which of the four measurements run, and how long.
import { RUN_LIMITS } from '../../lib/cannon.ts';
import { command, parseFlags, type FlagValues } from '../../lib/cli.ts';
import { DEFAULT_REPORT_DIR } from '../../lib/report.ts';
import { DEFAULT_INT8_MODEL_PATH, DEFAULT_MODEL_PATH } from '../../lib/server.ts';

/** What a plain `npm run bench` runs; 5 (instances) runs only when --only names it. */
export const BENCH_MEASUREMENTS = [1, 2, 3, 4] as const;
const OPT_IN_MEASUREMENTS = [5] as const;

export const BENCH_COMMAND = command({
  name: 'npm run bench',
  summary:
    'Four measurements, each side by side with its baseline in one run: 1 HTTP vs the raw engine, 2 batching\non vs off, 3 health p99 while saturated, 4 overload; and 5 MODEL_INSTANCES=2 vs 1 when --only names it.\nReports go to --out.',
  flags: {
    only: {
      kind: 'int-list',
      min: 1,
      max: BENCH_MEASUREMENTS.length + OPT_IN_MEASUREMENTS.length,
      default: BENCH_MEASUREMENTS,
      help: 'which measurements, by number (5, MODEL_INSTANCES=2 vs 1, only when named)',
    },
    duration: {
      kind: 'int',
      short: 'd',
      value: 'S',
      ...RUN_LIMITS.durationS,
      default: 10,
      help: 'seconds per measured window',
    },
    warmup: {
      kind: 'int',
      value: 'S',
      ...RUN_LIMITS.warmupS,
      default: 2,
      help: 'unmeasured warm-up before each window',
    },
    'jit-warmup': {
      kind: 'int',
      value: 'N',
      min: 0,
      max: 20_000,
      // About where the int8 server's compiling stopped costing CPU (docs/performance.md).
      default: 2500,
      help: 'images each fresh server of measurements 1 and 4 serves before its first window, so V8 has optimized the request path (0: none)',
    },
    // 8x this many connections is the overload of measurement 4, so it must stay within the limit.
    saturate: {
      kind: 'int',
      min: 1,
      max: RUN_LIMITS.connections.max / 8,
      help: 'connections that saturate the service',
      defaultText: '32 for 1 and 3; a ramp finds it for 4',
    },
    rounds: {
      kind: 'int',
      min: 1,
      max: 10,
      // Four, so that with --before each server takes each window place once (windowOrder).
      default: 4,
      help: 'rounds of alternating windows: HTTP / raw engine (1), peak / overload (4); the median ratio is reported',
    },
    connections: {
      kind: 'int-list',
      short: 'c',
      ...RUN_LIMITS.connections,
      default: [1, 8, 32],
      help: 'connection counts of measurement 2',
    },
    image: {
      kind: 'string',
      value: 'FILE',
      help: 'image to send',
      defaultText: 'the 500x375 JPEG fixture, or a generated one',
    },
    model: { kind: 'string', value: 'PATH', default: DEFAULT_MODEL_PATH, help: 'model, built if missing' },
    'int8-model': {
      kind: 'string',
      value: 'PATH',
      default: DEFAULT_INT8_MODEL_PATH,
      help: 'int8 model measurement 1 also runs ("none": FP32 only), built if missing',
    },
    before: {
      kind: 'string',
      value: 'REF',
      help: 'git commit whose server measurement 1 also drives (HTTP windows), for CPU per image by stage before and after',
    },
    out: { kind: 'string', value: 'DIR', default: DEFAULT_REPORT_DIR, help: 'report directory' },
  },
});

export interface BenchArgs {
  readonly only: readonly number[];
  readonly durationS: number;
  readonly warmupS: number;
  /** Images a fresh server serves before its first window of measurements 1 and 4 (jit-warmup.ts). */
  readonly jitWarmupImages: number;
  /** Connections that saturate the service; absent: found by a short ramp (measurement 4). */
  readonly saturate: number | undefined;
  /** Rounds of alternating windows of measurements 1 and 4 (the median ratio is reported). */
  readonly rounds: number;
  /** Connection counts of the batching comparison (measurement 2). */
  readonly connections: readonly number[];
  readonly image: string | undefined;
  readonly modelPath: string;
  /** The int8 model measurement 1 also compares with the raw engine; absent with `--int8-model none`. */
  readonly int8ModelPath: string | undefined;
  /** A git ref whose server measurement 1 also drives, as the "before" of each model. */
  readonly before: string | undefined;
  readonly outDir: string;
}

export function toBenchArgs(v: FlagValues<typeof BENCH_COMMAND.flags>): BenchArgs {
  return {
    only: [...v.only].sort((a, b) => a - b),
    durationS: v.duration,
    warmupS: v.warmup,
    jitWarmupImages: v['jit-warmup'],
    saturate: v.saturate,
    rounds: v.rounds,
    connections: v.connections,
    image: v.image,
    modelPath: v.model,
    int8ModelPath: v['int8-model'] === 'none' ? undefined : v['int8-model'],
    before: v.before,
    outDir: v.out,
  };
}

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  return toBenchArgs(parseFlags(BENCH_COMMAND, argv).values);
}
