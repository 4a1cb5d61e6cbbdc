// One autocannon run against a prepared request, bounded in time (duration, or a cap on an
// amount run) and summarized: images/s counts only 2xx responses times the images each carries.
// Besides autocannon's own latency histogram it keeps latencies by status class (so 503s can be
// judged fast or slow on their own) and counts 503s that came without Retry-After.
import type { IncomingHttpHeaders } from 'node:http';
import autocannon from 'autocannon';
import type { PreparedRequest } from './bodies.ts';

/** The part of autocannon's result that the summary reads (fakes in tests build just this). */
export interface CannonResultLike {
  readonly duration: number;
  readonly connections: number;
  readonly latency: {
    readonly mean: number;
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly max: number;
  };
  readonly '2xx': number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodeStats?: Readonly<Record<string, { count?: number }>>;
}

export interface LatencyMs {
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface CannonSummary {
  readonly connections: number;
  readonly durationS: number;
  readonly imagesPerRequest: number;
  readonly responses: number;
  readonly ok: number;
  readonly non2xx: number;
  /** Connection errors, timeouts included. */
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly requestsPerSecond: number;
  readonly imagesPerSecond: number;
  /** All responses, as autocannon measures them. */
  readonly latencyMs: LatencyMs;
}

export interface CannonRun {
  readonly summary: CannonSummary;
  /** Latencies by status class ("2xx", "5xx", ...), from every response. */
  readonly latencyByClassMs: Readonly<Record<string, LatencyMs>>;
  /** 503 responses that had no Retry-After header. */
  readonly unavailableWithoutRetryAfter: number;
}

/**
 * @param activeSeconds For --amount runs, from the start to the last response: autocannon's own
 *   duration is read at its once-a-second tick, so a short amount run would count up to a second
 *   too much. Duration runs pass nothing: their window is their duration.
 */
export function summarizeCannon(
  result: CannonResultLike,
  imagesPerRequest: number,
  activeSeconds?: number,
): CannonSummary {
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stats.count ?? 0;
  const responses = Object.values(statusCodes).reduce((a, n) => a + n, 0);
  const seconds = activeSeconds !== undefined && activeSeconds > 0 ? activeSeconds : result.duration;
  const perSecond = (n: number) => (seconds > 0 ? n / seconds : 0);
  const { mean, p50, p90, p99, max } = result.latency;
  return {
    connections: result.connections,
    durationS: seconds,
    imagesPerRequest,
    responses,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    requestsPerSecond: perSecond(responses),
    imagesPerSecond: perSecond(result['2xx'] * imagesPerRequest),
    latencyMs: { mean, p50, p90, p99, max },
  };
}

/** Nearest-rank percentiles of a list of latencies (ms); NaN for an empty list. */
export function latencyStats(values: readonly number[]): LatencyMs {
  if (values.length === 0)
    return { mean: Number.NaN, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
  const mean = sorted.reduce((a, v) => a + v, 0) / sorted.length;
  return { mean, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** Bounds of one load run, checked where flags are read: every run is bounded in time and in requests. */
export const RUN_LIMITS = {
  connections: { min: 1, max: 2048 },
  durationS: { min: 1, max: 600 },
  amount: { min: 1, max: 200_000 },
  warmupS: { min: 0, max: 60 },
  timeoutS: { min: 1, max: 120 },
} as const;

export interface CannonOptions {
  readonly baseUrl: string;
  readonly request: PreparedRequest | { readonly method: 'GET'; readonly path: string; readonly images: 0 };
  readonly connections: number;
  /** Exactly one of durationS and amount. */
  readonly durationS?: number;
  readonly amount?: number;
  /** Hard stop for amount runs (seconds). */
  readonly maxSeconds: number;
  readonly timeoutS: number;
  /** Requests per second over all connections (0: as fast as the server answers). */
  readonly overallRate?: number;
}

export async function runCannon(options: CannonOptions): Promise<CannonRun> {
  const byClass = new Map<string, number[]>();
  let unavailableWithoutRetryAfter = 0;
  const req = options.request;
  let settle: (err: unknown, result: autocannon.Result) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    settle = (err, result) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result));
  });
  const instance = autocannon(
    {
      url: options.baseUrl,
      connections: options.connections,
      ...(options.amount === undefined ? { duration: options.durationS ?? 10 } : { amount: options.amount }),
      timeout: options.timeoutS,
      ...(options.overallRate ? { overallRate: options.overallRate } : {}),
      requests: [
        {
          method: req.method,
          path: req.path,
          ...('body' in req ? { headers: { ...req.headers }, body: req.body } : {}),
          onResponse: (status: number, _body: string, _context: object, headers: IncomingHttpHeaders | undefined) => {
            if (status === 503 && !Object.keys(headers ?? {}).some((h) => h.toLowerCase() === 'retry-after'))
              unavailableWithoutRetryAfter++;
          },
        },
      ],
    },
    (err, result) => settle(err, result),
  );
  // autocannon emits (client, statusCode, bytes, responseTime ms); its typings omit the client.
  const startedAt = performance.now();
  let lastResponseAt = startedAt;
  (instance as unknown as NodeJS.EventEmitter).on(
    'response',
    (_client: unknown, status: number, _bytes: number, ms: number) => {
      lastResponseAt = performance.now();
      const key = `${Math.floor(status / 100)}xx`;
      const list = byClass.get(key) ?? [];
      list.push(ms);
      byClass.set(key, list);
    },
  );
  const cap = setTimeout(() => instance.stop(), options.maxSeconds * 1000);
  try {
    const result = await done;
    const latencyByClassMs = Object.fromEntries([...byClass].sort().map(([k, v]) => [k, latencyStats(v)]));
    // A duration run's window is its duration, even when the last response came early.
    const activeSeconds = options.amount === undefined ? undefined : (lastResponseAt - startedAt) / 1000;
    return {
      summary: summarizeCannon(result, req.images, activeSeconds),
      latencyByClassMs,
      unavailableWithoutRetryAfter,
    };
  } finally {
    clearTimeout(cap);
  }
}
