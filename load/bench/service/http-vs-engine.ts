// Benchmark 1: end-to-end images/s over HTTP (multipart 500x375 JPEG: parse, decode, resize,
// batch, infer, JSON) against the raw engine on pre-made tensors, same model and same settings
// (the server's defaults), same concurrency; for the FP32 model and the int8 one. All four sides
// are loaded at once but driven one at a time, in alternating windows (HTTP then engine, engine
// then HTTP, and the models' order alternating too), so they never share the CPU and slow drift
// in a shared machine's speed hits every side alike; each reported ratio is the median of the
// per-round ratios. Each window also records CPU by thread (cpu-per-image.ts): where an image's
// CPU goes outside the model.
import { PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createEngine, type Engine } from '../../../src/model/runtime/engine.ts';
import type { WorkerStat } from '../../../src/model/runtime/stats.ts';
import { engineOptionsFor } from '../../../src/server/classifier/engine-options.ts';
import { batchSettingsOf } from '../../../src/server/classifier/spec.ts';
import { loadConfig } from '../../../src/server/config.ts';
import {
  DEFAULT_SATURATING_CONNECTIONS,
  serverOptions,
  timing,
  type BenchContext,
  type Line,
  type Measurement,
} from './common.ts';
import { checkoutBefore, type BeforeCheckout } from './before.ts';
import {
  beforeAfterLines,
  cpuLines,
  cpuPerImageMs,
  pairedOutsideDifferences,
  type CpuWindow,
} from './cpu-per-image.ts';
import { driveEngine, type DriveResult } from './engine-driver.ts';
import { warmJit, type JitWarmup } from './jit-warmup.ts';
import { runCannon } from '../../lib/cannon.ts';
import { measureRun, runLine } from '../../lib/measure.ts';
import { fmt, type RunResult } from '../../lib/report.ts';
import { startServer, type ServerHandle } from '../../lib/server.ts';
import { median, medianInterval } from '../../lib/stats.ts';
import { tensorFor } from '../../lib/tensor.ts';
import { CpuMeter, type CpuSplit } from '../../lib/threads.ts';

export { cpuLines, cpuPerImageMs, type CpuWindow } from './cpu-per-image.ts';

export interface Round {
  readonly http: number;
  readonly engine: number;
}

/** A model measured over HTTP and raw, and its HTTP/raw images/s target (the issue's goals). */
export interface Contender {
  readonly label: string;
  readonly modelPath: string;
  readonly target: number;
}

/** What one contender's windows measured. */
export interface ContenderResult {
  readonly contender: Contender;
  readonly httpRuns: readonly RunResult[];
  readonly engineRuns: readonly DriveResult[];
  readonly cpu?: { readonly http: readonly CpuWindow[]; readonly engine: readonly CpuWindow[] };
  /** The server's JIT warm-up before its first window (none with --jit-warmup 0). */
  readonly warmup?: JitWarmup;
  /** The same model on the --before commit's server: its HTTP windows only. */
  readonly before?: {
    readonly label: string;
    readonly httpRuns: readonly RunResult[];
    readonly cpu: readonly CpuWindow[];
    readonly warmup?: JitWarmup;
  };
}

export const HTTP_VS_ENGINE_TARGETS = { fp32: 0.93, int8: 0.8 } as const;

export function contendersOf(args: BenchContext['args']): Contender[] {
  const fp32 = { label: 'FP32', modelPath: args.modelPath, target: HTTP_VS_ENGINE_TARGETS.fp32 };
  if (args.int8ModelPath === undefined) return [fp32];
  return [fp32, { label: 'int8', modelPath: args.int8ModelPath, target: HTTP_VS_ENGINE_TARGETS.int8 }];
}

function selfCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Per-round HTTP/engine images/s ratios and their median (the robust summary of a noisy series). */
export function pairedRatios(rounds: readonly Round[]): { ratios: number[]; median: number } {
  const ratios = rounds.map((r) => (r.engine > 0 ? r.http / r.engine : Number.NaN));
  return { ratios, median: median(ratios) };
}

/** Round i runs HTTP first when i is even, the engine first when it is odd. */
export function httpFirst(round: number): boolean {
  return round % 2 === 0;
}

type Window = 'http' | 'raw' | 'before';

/**
 * The windows of one side in a round: HTTP and the raw engine alternate, and the --before
 * server's window sits next to the HTTP one, after it in rounds 0 and 1 and before it in rounds 2
 * and 3 (and so on), so over four rounds each server takes each place once against the other and
 * the raw engine. It used to come last every time, and then read 11% faster for int8 in two runs
 * where an A/B with two servers of each kind found no difference.
 */
export function windowOrder(round: number, withBefore: boolean): Window[] {
  const afterFirst = Math.floor(round / 2) % 2 === 0;
  const pair: Window[] = !withBefore ? ['http'] : afterFirst ? ['http', 'before'] : ['before', 'http'];
  return httpFirst(round) ? [...pair, 'raw'] : ['raw', ...pair];
}

/** Main-thread GC pauses of this process, summed while `active`. */
function gcClock(): { active: boolean; seconds: number; close(): void } {
  const clock = {
    active: false,
    seconds: 0,
    close: () => observer.disconnect(),
  };
  const observer = new PerformanceObserver((list) => {
    if (clock.active) for (const entry of list.getEntries()) clock.seconds += entry.duration / 1000;
  });
  observer.observe({ entryTypes: ['gc'] });
  return clock;
}

/** A server driven over HTTP, and what its windows measured. */
interface HttpSide {
  readonly contender: Contender;
  readonly server: ServerHandle;
  readonly serverCpu: CpuMeter;
  readonly httpRuns: RunResult[];
  readonly httpCpu: CpuWindow[];
  warmup?: JitWarmup;
}

interface Side extends HttpSide {
  readonly engine: Engine;
  readonly engineRuns: DriveResult[];
  readonly engineCpu: CpuWindow[];
  /** The --before commit's server for the same model. */
  before?: HttpSide;
}

async function startRawEngine(modelPath: string): Promise<Engine> {
  // The settings the service gets: its defaults and this shell's environment (the started
  // servers inherit it too), so both sides run the same engine configuration.
  const config = loadConfig(process.env, []);
  const engine = await createEngine(engineOptionsFor(config, { modelPath, settings: batchSettingsOf(config) }));
  const readyBy = Date.now() + 300_000;
  while (!engine.ready && Date.now() < readyBy) await sleep(100);
  return engine;
}

async function startSide(ctx: BenchContext, contender: Contender): Promise<Side> {
  const label = `http-vs-engine-${contender.label.toLowerCase()}`;
  const server = await startServer(serverOptions(ctx, label, {}, contender.modelPath));
  try {
    const engine = await startRawEngine(contender.modelPath);
    return {
      contender,
      server,
      serverCpu: new CpuMeter(server.pid),
      engine,
      httpRuns: [],
      engineRuns: [],
      httpCpu: [],
      engineCpu: [],
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

async function startBeforeSide(ctx: BenchContext, contender: Contender, checkout: BeforeCheckout): Promise<HttpSide> {
  const label = `http-vs-engine-${contender.label.toLowerCase()}-before`;
  const server = await startServer({ ...serverOptions(ctx, label, {}, contender.modelPath), checkout });
  const before = { ...contender, label: `${contender.label} before ${checkout.label}` };
  return { contender: before, server, serverCpu: new CpuMeter(server.pid), httpRuns: [], httpCpu: [] };
}

export async function httpVsEngine(ctx: BenchContext): Promise<Measurement> {
  const connections = ctx.args.saturate ?? DEFAULT_SATURATING_CONNECTIONS;
  const tensor = await tensorFor(ctx.image.bytes);
  const sides: Side[] = [];
  const selfCpu = new CpuMeter(process.pid);
  const gc = gcClock();
  const checkout = ctx.args.before === undefined ? undefined : checkoutBefore(ctx.args.before);
  try {
    for (const contender of contendersOf(ctx.args)) sides.push(await startSide(ctx, contender));
    if (checkout !== undefined)
      for (const side of sides) side.before = await startBeforeSide(ctx, side.contender, checkout);
    for (const side of sides) if (ctx.args.warmupS > 0) await driveEngine(side.engine, tensor, connections, 2);
    for (const side of sides.flatMap((s) => (s.before === undefined ? [s] : [s, s.before])))
      side.warmup = await warmJit(ctx, side.server, connections, side.contender.label);
    // Every engine thread of this process exists now; the servers' are read after their warm-up.
    selfCpu.classify();
    for (let round = 0; round < ctx.args.rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const { before } = side;
        const runs: Record<Window, () => Promise<void>> = {
          http: () => httpWindow(ctx, side, connections, round),
          raw: () => engineWindow(ctx, side, connections, round, tensor, selfCpu, gc),
          before: () => (before === undefined ? Promise.resolve() : httpWindow(ctx, before, connections, round)),
        };
        for (const window of windowOrder(round, before !== undefined)) await runs[window]();
      }
    }
  } finally {
    gc.close();
    for (const side of sides) {
      await side.engine.close();
      await side.server.stop();
      await side.before?.server.stop();
    }
    checkout?.remove();
  }
  return httpVsEngineMeasurement(
    ctx,
    connections,
    sides.map((s) => ({
      contender: s.contender,
      httpRuns: s.httpRuns,
      engineRuns: s.engineRuns,
      cpu: { http: s.httpCpu, engine: s.engineCpu },
      ...(s.warmup === undefined ? {} : { warmup: s.warmup }),
      ...(s.before === undefined
        ? {}
        : {
            before: {
              label: s.before.contender.label,
              httpRuns: s.before.httpRuns,
              cpu: s.before.httpCpu,
              ...(s.before.warmup === undefined ? {} : { warmup: s.before.warmup }),
            },
          }),
    })),
  );
}

async function httpWindow(ctx: BenchContext, side: HttpSide, connections: number, round: number): Promise<void> {
  // Only the first HTTP window needs a warm-up; later ones follow a saturated engine window.
  const t = round === 0 ? timing(ctx) : { ...timing(ctx), warmupS: 0 };
  let window: { stop(): CpuSplit } | undefined;
  let self0 = 0;
  let split: CpuSplit | undefined;
  let selfS = 0;
  const { result } = await measureRun(
    {
      baseUrl: side.server.baseUrl,
      request: ctx.multipart,
      connections,
      ...t,
      setting: `HTTP multipart ${side.contender.label}`,
      body: 'multipart',
    },
    runCannon,
    {
      started: () => {
        if (!side.serverCpu.classified) side.serverCpu.classify();
        self0 = selfCpuSeconds();
        window = side.serverCpu.start();
      },
      ended: () => {
        split = window?.stop();
        selfS = selfCpuSeconds() - self0;
      },
    },
  );
  side.httpCpu.push({
    serverS: split?.totalS,
    selfS,
    images: result.cannon.imagesPerSecond * result.cannon.durationS,
    split,
    mainGcS: result.server?.gcSeconds,
    workerInputS: result.server?.workerInputSeconds,
    workerTransferS: result.server?.workerTransferSeconds,
  });
  console.log(`round ${round + 1}: ${runLine(result)}`);
  side.httpRuns.push(result);
}

async function engineWindow(
  ctx: BenchContext,
  side: Side,
  connections: number,
  round: number,
  tensor: Float32Array,
  selfCpu: CpuMeter,
  gc: { active: boolean; seconds: number },
): Promise<void> {
  const window = selfCpu.start();
  const self0 = selfCpuSeconds();
  const gc0 = gc.seconds;
  gc.active = true;
  const worker = { inputS: 0, transferS: 0 };
  const onWorker = ({ inputSeconds, transferSeconds }: WorkerStat) => {
    worker.inputS += inputSeconds;
    worker.transferS += transferSeconds;
  };
  side.engine.stats.on('worker', onWorker);
  const result = await driveEngine(side.engine, tensor, connections, ctx.args.durationS);
  side.engine.stats.off('worker', onWorker);
  gc.active = false;
  const split = window.stop();
  side.engineCpu.push({
    selfS: selfCpuSeconds() - self0,
    images: result.images,
    split,
    mainGcS: gc.seconds - gc0,
    workerInputS: worker.inputS,
    workerTransferS: worker.transferS,
  });
  console.log(
    `round ${round + 1}: raw engine ${side.contender.label} c=${connections}: ${fmt(result.imagesPerSecond)} images/s, latency p50 ${fmt(result.latencyMs.p50, 0)} ms p99 ${fmt(result.latencyMs.p99, 0)} ms`,
  );
  side.engineRuns.push(result);
}

function roundsOf(r: ContenderResult): Round[] {
  return r.httpRuns.map((h, i) => ({ http: h.cannon.imagesPerSecond, engine: r.engineRuns[i]?.imagesPerSecond ?? 0 }));
}

/** One model's lines: images/s and p99 against the raw engine, then CPU per image by stage. */
export function contenderLines(r: ContenderResult, prefix = ''): Line[] {
  const rounds = roundsOf(r);
  const { ratios, median: medianRatio } = pairedRatios(rounds);
  const httpMedian = median(rounds.map((x) => x.http));
  return [
    {
      // value / baseline is the median of the per-round ratios, not the ratio of the medians.
      name: `${prefix}images/s (median round)`,
      value: httpMedian,
      unit: 'images/s',
      baseline: { name: 'raw engine', value: httpMedian / medianRatio },
      target: { comparison: '>=', bound: r.contender.target },
      interval: medianInterval(ratios),
    },
    {
      name: `${prefix}latency p99 (median round)`,
      value: median(r.httpRuns.map((h) => h.cannon.latencyMs.p99)),
      unit: 'ms',
      baseline: { name: 'raw engine', value: median(r.engineRuns.map((e) => e.latencyMs.p99)) },
    },
    ...(r.cpu === undefined ? [] : cpuLines(r.cpu, prefix)),
    ...(r.warmup === undefined || r.cpu === undefined ? [] : [warmupLine(r.warmup, r.cpu.http, prefix)]),
    ...(r.before === undefined ? [] : beforeAfter(r, r.before, prefix)),
  ];
}

/** The server's CPU per image while V8 was still optimizing it, against its measured windows. */
function warmupLine(warmup: JitWarmup, http: readonly CpuWindow[], prefix: string): Line {
  return {
    name: `${prefix}CPU per image: server process in its JIT warm-up (first ${warmup.images} images)`,
    value: warmup.serverCpuPerImageMs,
    unit: 'ms',
    baseline: { name: 'measured windows', value: cpuPerImageMs(http, (w) => w.serverS) },
  };
}

/** After against the --before commit: HTTP images/s, then CPU per image by stage. */
function beforeAfter(r: ContenderResult, before: NonNullable<ContenderResult['before']>, prefix: string): Line[] {
  const imagesPerSecond = (runs: readonly RunResult[]) => median(runs.map((h) => h.cannon.imagesPerSecond));
  return [
    {
      name: `${prefix}after vs before: HTTP images/s (median round)`,
      value: imagesPerSecond(r.httpRuns),
      unit: 'images/s',
      baseline: { name: before.label, value: imagesPerSecond(before.httpRuns) },
    },
    ...beforeAfterLines(r.cpu?.http ?? [], before.cpu, before.label, prefix),
  ];
}

/** int8 HTTP images/s over FP32 HTTP images/s, median of the per-round ratios. */
export function int8OverFp32Line(fp32: ContenderResult, int8: ContenderResult): Line {
  const ratios = int8.httpRuns.map(
    (h, i) => h.cannon.imagesPerSecond / (fp32.httpRuns[i]?.cannon.imagesPerSecond ?? 0),
  );
  const value = median(int8.httpRuns.map((h) => h.cannon.imagesPerSecond));
  return {
    name: `${int8.contender.label} HTTP images/s (median round)`,
    value,
    unit: 'images/s',
    baseline: { name: `${fp32.contender.label} HTTP`, value: value / median(ratios) },
  };
}

function notesOf(r: ContenderResult): string[] {
  const { ratios } = pairedRatios(roundsOf(r));
  const rounds = roundsOf(r);
  const http = r.httpRuns.map((h) => h.cannon);
  const engineErrors = r.engineRuns
    .flatMap((e) => Object.entries(e.errors))
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  const warmups = [
    ...(r.warmup === undefined ? [] : [warmupNote(r.contender.label, r.warmup)]),
    ...(r.before?.warmup === undefined ? [] : [warmupNote(r.before.label, r.before.warmup)]),
  ];
  const outside = r.cpu === undefined ? [] : pairedOutsideDifferences(r.cpu);
  return [
    `${r.contender.label} (${r.contender.modelPath}): per-round ratios ${ratios.map((x) => fmt(x, 3)).join(', ')} (HTTP ${rounds.map((x) => fmt(x.http)).join(', ')} images/s; engine ${rounds.map((x) => fmt(x.engine)).join(', ')} images/s).`,
    `${r.contender.label}: HTTP ${http.reduce((a, c) => a + c.ok, 0)} 2xx, ${http.reduce((a, c) => a + c.non2xx, 0)} non-2xx, ${http.reduce((a, c) => a + c.errors, 0)} errors. ` +
      `Engine: ${r.engineRuns.reduce((a, e) => a + e.images, 0)} images${engineErrors ? `, errors ${engineErrors}` : ''}.`,
    ...(outside.length === 0
      ? []
      : [
          `${r.contender.label}: CPU per image outside the model per round ${outside.map((x) => fmt(x)).join(', ')} ms.`,
        ]),
    ...warmups,
  ];
}

function warmupNote(label: string, w: JitWarmup): string {
  return `${label}: a JIT warm-up of ${w.images} images (${fmt(w.seconds, 0)} s, server CPU ${fmt(w.serverCpuPerImageMs)} ms per image) before the first window.`;
}

/** The lines of benchmark 1 from its windows (pure, so the verdicts are testable). */
export function httpVsEngineMeasurement(
  ctx: Pick<BenchContext, 'image'>,
  connections: number,
  results: readonly ContenderResult[],
): Measurement {
  const several = results.length > 1;
  const lines = results.flatMap((r) => contenderLines(r, several ? `${r.contender.label}: ` : ''));
  const [fp32, int8] = results;
  if (fp32 !== undefined && int8 !== undefined) lines.push(int8OverFp32Line(fp32, int8));
  const rounds = results[0]?.httpRuns.length ?? 0;
  return {
    id: 1,
    title: `HTTP (multipart ${ctx.image.width}x${ctx.image.height} JPEG) vs the raw engine on pre-made tensors (${results.map((r) => r.contender.label).join(', ')}), ${connections} in flight, ${rounds} alternating rounds`,
    lines,
    runs: results.flatMap((r) => r.httpRuns),
    notes: [
      ...results.flatMap(notesOf),
      'CPU per image is the median over windows; by thread from /proc/<pid>/task/*/stat, roles read from a gdb backtrace (load/lib/threads.ts). The raw engine is this process: its main thread drives the engine.',
    ],
  };
}
