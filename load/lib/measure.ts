// One measured run as `npm run load` and `npm run bench` both need it: an unmeasured warm-up at the same
// concurrency, a /metrics scrape, the autocannon (or gRPC) run, another scrape, and the server-side deltas.
import { runCannon, type CannonOptions, type CannonRun } from './cannon.ts';
import type { RunResult } from './report.ts';
import { fmt } from './report.ts';
import { scrapeMetrics, summarizeServer, waitIdle } from './server-metrics.ts';
import type { Scrape } from './prometheus.ts';

export interface MeasureOptions extends CannonOptions {
  readonly setting: string;
  readonly body: string;
  readonly warmupS: number;
}

async function tryScrape(baseUrl: string): Promise<Scrape | undefined> {
  try {
    return await scrapeMetrics(baseUrl);
  } catch {
    // A target without /metrics still gets its client-side numbers.
    return undefined;
  }
}

/** Runs the load of one window: autocannon over HTTP, or grpc-load.ts's runner over gRPC. */
export type Runner = (options: CannonOptions) => Promise<CannonRun>;

/** Called right around the measured window (after the warm-up): CPU meters start and stop here. */
export interface WindowHooks {
  readonly started?: () => void;
  readonly ended?: () => void;
}

export async function measureRun(
  options: MeasureOptions,
  runner: Runner = runCannon,
  hooks: WindowHooks = {},
): Promise<{ result: RunResult; run: CannonRun }> {
  await waitIdle(options.baseUrl);
  if (options.warmupS > 0) {
    await runner({
      ...options,
      durationS: options.warmupS,
      amount: undefined,
      maxSeconds: options.warmupS + options.timeoutS,
    });
    await waitIdle(options.baseUrl);
  }
  const before = await tryScrape(options.baseUrl);
  hooks.started?.();
  const run = await runner(options);
  hooks.ended?.();
  const after = await tryScrape(options.baseUrl);
  const result: RunResult = {
    setting: options.setting,
    body: options.body,
    cannon: run.summary,
    ...(after === undefined ? {} : { server: summarizeServer(before, after) }),
    latencyByClassMs: run.latencyByClassMs,
  };
  return { result, run };
}

/** One line per run for the terminal. */
export function runLine(r: RunResult): string {
  const c = r.cannon;
  const s = r.server;
  const server = s
    ? ` | batch mean ${fmt(s.batches?.mean, 2)}, queue wait p50 ${fmt(s.queueWait?.p50Ms)} ms p99 ${fmt(s.queueWait?.p99Ms)} ms, compute mean ${fmt(s.compute?.meanMs)} ms`
    : '';
  return (
    `${r.setting} c=${c.connections}: ${fmt(c.imagesPerSecond)} images/s, latency p50 ${fmt(c.latencyMs.p50, 0)} ms p90 ${fmt(c.latencyMs.p90, 0)} ms ` +
    `p99 ${fmt(c.latencyMs.p99, 0)} ms, errors ${c.errors}, non-2xx ${c.non2xx}${server}`
  );
}
