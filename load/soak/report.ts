// What a soak run reports: memory samples over time (RSS from /proc, V8 heap and external memory
// from the server's own /metrics), one autocannon window per minute, and the drift between the
// first and the last minute, with a least-squares slope per minute for memory.
import type { LatencyMs } from '../lib/cannon.ts';

export interface MemorySample {
  /** Seconds since the soak started. */
  readonly t: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly externalMiB: number;
}

export interface MinuteWindow {
  readonly minute: number;
  readonly requestsPerSecond: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly latencyMs: LatencyMs;
}

export interface Drift {
  readonly first: number;
  readonly last: number;
  /** last / first */
  readonly ratio: number;
  /** Least-squares slope over all samples, per minute (memory only). */
  readonly perMinute?: number;
}

export interface SoakSummary {
  readonly rssMiB: Drift;
  readonly heapUsedMiB: Drift;
  readonly externalMiB: Drift;
  readonly p50Ms: Drift;
  readonly p99Ms: Drift;
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
}

/** Least-squares slope of y over x; 0 for fewer than two points. */
export function slope(points: readonly (readonly [number, number])[]): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

const mean = (values: readonly number[]): number =>
  values.length === 0 ? Number.NaN : values.reduce((a, v) => a + v, 0) / values.length;
const round = (v: number, digits = 2): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** Memory drift: the mean of the first minute's samples against the last minute's. */
function memoryDrift(
  samples: readonly MemorySample[],
  key: 'rssMiB' | 'heapUsedMiB' | 'externalMiB',
  minutes: number,
): Drift {
  const inMinute = (m: number) => samples.filter((s) => s.t >= m * 60 && s.t < (m + 1) * 60).map((s) => s[key]);
  const first = mean(inMinute(0));
  const last = mean(inMinute(Math.max(0, minutes - 1)));
  return {
    first: round(first, 1),
    last: round(last, 1),
    ratio: round(last / first, 3),
    perMinute: round(slope(samples.map((s) => [s.t / 60, s[key]] as const)), 2),
  };
}

function latencyDrift(windows: readonly MinuteWindow[], key: 'p50' | 'p99'): Drift {
  const first = windows[0]?.latencyMs[key] ?? Number.NaN;
  const last = windows.at(-1)?.latencyMs[key] ?? Number.NaN;
  return { first, last, ratio: round(last / first, 3) };
}

export function summarizeSoak(samples: readonly MemorySample[], windows: readonly MinuteWindow[]): SoakSummary {
  const minutes = windows.length;
  return {
    rssMiB: memoryDrift(samples, 'rssMiB', minutes),
    heapUsedMiB: memoryDrift(samples, 'heapUsedMiB', minutes),
    externalMiB: memoryDrift(samples, 'externalMiB', minutes),
    p50Ms: latencyDrift(windows, 'p50'),
    p99Ms: latencyDrift(windows, 'p99'),
    requests: windows.reduce((a, w) => a + w.ok + w.non2xx, 0),
    non2xx: windows.reduce((a, w) => a + w.non2xx, 0),
    errors: windows.reduce((a, w) => a + w.errors, 0),
  };
}

export function soakMarkdown(
  meta: { title: string; lines: readonly string[] },
  windows: readonly MinuteWindow[],
  summary: SoakSummary,
): string {
  const drift = (name: string, d: Drift, unit: string) =>
    `| ${name} | ${d.first} ${unit} | ${d.last} ${unit} | x${d.ratio} | ${d.perMinute === undefined ? '' : `${d.perMinute} ${unit}/min`} |`;
  return [
    `# ${meta.title}`,
    '',
    ...meta.lines.map((l) => `- ${l}`),
    '',
    '| minute | req/s | 2xx | non-2xx | errors | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|---|---|---|---|',
    ...windows.map(
      (w) =>
        `| ${w.minute + 1} | ${round(w.requestsPerSecond, 1)} | ${w.ok} | ${w.non2xx} | ${w.errors} | ${w.latencyMs.p50} | ${w.latencyMs.p99} | ${w.latencyMs.max} |`,
    ),
    '',
    '| series | first minute | last minute | last/first | slope |',
    '|---|---|---|---|---|',
    drift('server RSS', summary.rssMiB, 'MiB'),
    drift('V8 heap used', summary.heapUsedMiB, 'MiB'),
    drift('external (Buffers)', summary.externalMiB, 'MiB'),
    drift('latency p50', summary.p50Ms, 'ms'),
    drift('latency p99', summary.p99Ms, 'ms'),
    '',
    `${summary.requests} requests, ${summary.non2xx} non-2xx, ${summary.errors} connection errors.`,
    '',
  ].join('\n');
}
