// Benchmark 1: end-to-end images/s over HTTP (multipart 500x375 JPEG: parse, decode, resize,
// batch, infer, JSON) against the raw engine on pre-made tensors, same model and same settings
// (the server's defaults), same concurrency. Both are loaded at once but driven one at a time, in
// alternating windows (HTTP then engine, engine then HTTP, ...), so they never share the CPU and
// slow drift in a shared machine's speed hits both sides alike; the reported ratio is the median
// of the per-round ratios. Target: ratio >= 0.90. What the gap holds: HTTP parsing, JPEG decode
// + resize, JSON, the load generator itself (it shares the cores), and what that CPU work costs
// the model's threads.
import { setTimeout as sleep } from 'node:timers/promises';
import { createEngine, type Engine } from '../../../src/model/runtime/engine.ts';
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
import { driveEngine, type DriveResult } from './engine-driver.ts';
import { measureRun, runLine } from '../../lib/measure.ts';
import { fmt, type RunResult } from '../../lib/report.ts';
import { readCpuSeconds, withServer } from '../../lib/server.ts';
import { median } from '../../lib/stats.ts';
import { tensorFor } from '../../lib/tensor.ts';

export interface Round {
  readonly http: number;
  readonly engine: number;
}

/** CPU seconds and images of one window: where the gap between the two sides goes. */
export interface CpuWindow {
  /** The server process (HTTP windows only). */
  readonly serverS?: number;
  /** This process: the load generator in HTTP windows, the raw engine in engine windows. */
  readonly selfS: number;
  readonly images: number;
}

function selfCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Median milliseconds of CPU per image, over the windows after the first (which holds the warm-up). */
export function cpuPerImageMs(windows: readonly CpuWindow[], pick: (w: CpuWindow) => number | undefined): number {
  const measured = windows.length > 1 ? windows.slice(1) : windows;
  return median(
    measured.filter((w) => w.images > 0 && pick(w) !== undefined).map((w) => ((pick(w) as number) * 1000) / w.images),
  );
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

async function startRawEngine(ctx: BenchContext): Promise<Engine> {
  // The settings the service gets: its defaults and this shell's environment (the started
  // servers inherit it too), so both sides run the same engine configuration.
  const config = loadConfig(process.env, []);
  const engine = await createEngine(
    engineOptionsFor(config, { modelPath: ctx.args.modelPath, settings: batchSettingsOf(config) }),
  );
  const readyBy = Date.now() + 300_000;
  while (!engine.ready && Date.now() < readyBy) await sleep(100);
  return engine;
}

export async function httpVsEngine(ctx: BenchContext): Promise<Measurement> {
  const connections = ctx.args.saturate ?? DEFAULT_SATURATING_CONNECTIONS;
  const tensor = await tensorFor(ctx.image.bytes);
  const engine = await startRawEngine(ctx);
  const httpRuns: RunResult[] = [];
  const engineRuns: DriveResult[] = [];
  const httpCpu: CpuWindow[] = [];
  const engineCpu: CpuWindow[] = [];
  try {
    await withServer(serverOptions(ctx, 'http-vs-engine'), async (server) => {
      if (ctx.args.warmupS > 0) await driveEngine(engine, tensor, connections, ctx.args.warmupS);
      for (let round = 0; round < ctx.args.rounds; round++) {
        const http = async () => {
          // Only the first HTTP window needs a warm-up; later ones follow a saturated engine window.
          const t = round === 0 ? timing(ctx) : { ...timing(ctx), warmupS: 0 };
          const [server0, self0] = [readCpuSeconds(server.pid), selfCpuSeconds()];
          const { result } = await measureRun({
            baseUrl: server.baseUrl,
            request: ctx.multipart,
            connections,
            ...t,
            setting: 'HTTP multipart',
            body: 'multipart',
          });
          httpCpu.push({
            serverS: readCpuSeconds(server.pid) - server0,
            selfS: selfCpuSeconds() - self0,
            images: result.cannon.imagesPerSecond * result.cannon.durationS,
          });
          console.log(`round ${round + 1}: ${runLine(result)}`);
          httpRuns.push(result);
        };
        const raw = async () => {
          const self0 = selfCpuSeconds();
          const result = await driveEngine(engine, tensor, connections, ctx.args.durationS);
          engineCpu.push({ selfS: selfCpuSeconds() - self0, images: result.images });
          console.log(
            `round ${round + 1}: raw engine c=${connections}: ${fmt(result.imagesPerSecond)} images/s, latency p50 ${fmt(result.latencyMs.p50, 0)} ms p99 ${fmt(result.latencyMs.p99, 0)} ms`,
          );
          engineRuns.push(result);
        };
        if (httpFirst(round)) {
          await http();
          await raw();
        } else {
          await raw();
          await http();
        }
      }
    });
  } finally {
    await engine.close();
  }
  return httpVsEngineMeasurement(ctx, connections, httpRuns, engineRuns, { http: httpCpu, engine: engineCpu });
}

/** The lines of benchmark 1 from its windows (pure, so the verdict is testable). */
export function httpVsEngineMeasurement(
  ctx: Pick<BenchContext, 'image'>,
  connections: number,
  httpRuns: readonly RunResult[],
  engineRuns: readonly DriveResult[],
  cpu?: { readonly http: readonly CpuWindow[]; readonly engine: readonly CpuWindow[] },
): Measurement {
  const rounds = httpRuns.map((h, i) => ({
    http: h.cannon.imagesPerSecond,
    engine: engineRuns[i]?.imagesPerSecond ?? 0,
  }));
  const { ratios, median: medianRatio } = pairedRatios(rounds);
  const httpMedian = median(rounds.map((r) => r.http));
  const engineP99 = median(engineRuns.map((r) => r.latencyMs.p99));
  const engineErrors = engineRuns
    .flatMap((r) => Object.entries(r.errors))
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  const http = httpRuns.map((r) => r.cannon);
  return {
    id: 1,
    title: `HTTP (multipart ${ctx.image.width}x${ctx.image.height} JPEG) vs the raw engine on pre-made tensors, ${connections} in flight, ${rounds.length} alternating rounds`,
    lines: [
      {
        // value / baseline is the median of the per-round ratios, not the ratio of the medians.
        name: 'images/s (median round)',
        value: httpMedian,
        unit: 'images/s',
        baseline: { name: 'raw engine', value: httpMedian / medianRatio },
        target: { comparison: '>=', bound: 0.9 },
      },
      {
        name: 'latency p99 (median round)',
        value: median(http.map((c) => c.latencyMs.p99)),
        unit: 'ms',
        baseline: { name: 'raw engine', value: engineP99 },
      },
      ...(cpu === undefined ? [] : cpuLines(cpu)),
    ],
    runs: httpRuns,
    notes: [
      `Per-round ratios: ${ratios.map((r) => fmt(r, 3)).join(', ')} (HTTP ${rounds.map((r) => fmt(r.http)).join(', ')} images/s; engine ${rounds.map((r) => fmt(r.engine)).join(', ')} images/s).`,
      `HTTP: ${http.reduce((a, c) => a + c.ok, 0)} 2xx, ${http.reduce((a, c) => a + c.non2xx, 0)} non-2xx, ${http.reduce((a, c) => a + c.errors, 0)} errors. ` +
        `Engine: ${engineRuns.reduce((a, r) => a + r.images, 0)} images${engineErrors ? `, errors ${engineErrors}` : ''}.`,
    ],
  };
}

/** CPU per image: the server and the load generator against the raw engine (informative lines). */
export function cpuLines(cpu: { readonly http: readonly CpuWindow[]; readonly engine: readonly CpuWindow[] }): Line[] {
  const engine = cpuPerImageMs(cpu.engine, (w) => w.selfS);
  const server = cpuPerImageMs(cpu.http, (w) => w.serverS);
  const client = cpuPerImageMs(cpu.http, (w) => w.selfS);
  return [
    {
      name: 'CPU per image: server process',
      value: server,
      unit: 'ms',
      baseline: { name: 'raw engine', value: engine },
    },
    {
      name: 'CPU per image: server + load generator (same cores)',
      value: server + client,
      unit: 'ms',
      baseline: { name: 'raw engine', value: engine },
    },
  ];
}
