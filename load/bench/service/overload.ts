// Benchmark 4: overload at 8x the connections that saturate the service. What must hold: only
// 200s and fast 503s (with Retry-After), images/s >= 90% of the peak, RSS bounded and back near
// its baseline afterwards, and the service still up. The saturating connection count is the
// smallest whose images/s is within 5% of the best of a ramp (or --saturate).
import { setTimeout as sleep } from 'node:timers/promises';
import { sampleRss, serverOptions, timing, type BenchContext, type Line, type Measurement } from './common.ts';
import type { CannonRun } from '../../lib/cannon.ts';
import { measureRun, runLine } from '../../lib/measure.ts';
import { fmt, type RunResult } from '../../lib/report.ts';
import { withServer, type ServerHandle } from '../../lib/server.ts';

export const OVERLOAD_FACTOR = 8;
export const RAMP_CONNECTIONS = [1, 2, 4, 8, 16, 32] as const;
/** "Near its baseline": RSS after the overload, idle, within this factor of before it. */
export const RSS_AFTER_TARGET = 1.15;
const SETTLE_MS = 5000;

/** The smallest connection count within `within` of the best images/s, and that best. */
export function saturation(runs: readonly RunResult[], within = 0.05): { connections: number; peak: number } {
  if (runs.length === 0) throw new RangeError('No runs to find the saturation point in');
  const peak = Math.max(...runs.map((r) => r.cannon.imagesPerSecond));
  const sorted = [...runs].sort((a, b) => a.cannon.connections - b.cannon.connections);
  const first = sorted.find((r) => r.cannon.imagesPerSecond >= (1 - within) * peak) ?? sorted[sorted.length - 1];
  return { connections: first?.cannon.connections ?? 1, peak };
}

async function ramp(ctx: BenchContext, server: ServerHandle): Promise<RunResult[]> {
  const runs: RunResult[] = [];
  for (const connections of RAMP_CONNECTIONS) {
    const t = timing(ctx, Math.max(3, Math.round(ctx.args.durationS / 2)));
    const { result } = await measureRun({
      baseUrl: server.baseUrl,
      request: ctx.multipart,
      connections,
      ...t,
      setting: 'ramp',
      body: 'multipart',
    });
    console.log(runLine(result));
    runs.push(result);
  }
  return runs;
}

async function liveAfter(server: ServerHandle): Promise<number> {
  try {
    const res = await fetch(`${server.baseUrl}/v2/health/live`, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** The lines of benchmark 4 from its measured pieces (pure, so the verdicts are testable). */
export function overloadLines(o: {
  peak: RunResult;
  overload: { result: RunResult; run: CannonRun };
  rssKiB: { baseline: number; peak: number; after: number };
  liveStatus: number;
}): Line[] {
  const c = o.overload.result.cannon;
  const codes = c.statusCodes;
  const unexpected =
    Object.entries(codes)
      .filter(([code]) => code !== '200' && code !== '503')
      .reduce((a, [, n]) => a + n, 0) + c.errors;
  const mib = (kib: number) => kib / 1024;
  const lines: Line[] = [
    {
      name: `images/s at ${c.connections} connections`,
      value: c.imagesPerSecond,
      unit: 'images/s',
      baseline: { name: `peak (${o.peak.cannon.connections} connections)`, value: o.peak.cannon.imagesPerSecond },
      target: { comparison: '>=', bound: 0.9 },
    },
    {
      name: 'responses other than 200/503, plus connection errors',
      value: unexpected,
      unit: 'responses',
      target: { comparison: '<=', bound: 0 },
    },
    {
      name: '503 without Retry-After',
      value: o.overload.run.unavailableWithoutRetryAfter,
      unit: 'responses',
      target: { comparison: '<=', bound: 0 },
    },
  ];
  const rejected = o.overload.run.latencyByClassMs['5xx'];
  const served = o.overload.run.latencyByClassMs['2xx'];
  if ((codes['503'] ?? 0) > 0 && rejected && served) {
    lines.push({
      name: '503 latency p99',
      value: rejected.p99,
      unit: 'ms',
      baseline: { name: '200 latency p50', value: served.p50 },
      target: { comparison: '<', bound: 1 },
    });
  }
  lines.push(
    {
      name: 'RSS peak during overload',
      value: mib(o.rssKiB.peak),
      unit: 'MiB',
      baseline: { name: 'baseline', value: mib(o.rssKiB.baseline) },
    },
    {
      name: `RSS ${SETTLE_MS / 1000} s after`,
      value: mib(o.rssKiB.after),
      unit: 'MiB',
      baseline: { name: 'baseline', value: mib(o.rssKiB.baseline) },
      target: { comparison: '<=', bound: RSS_AFTER_TARGET },
    },
    {
      name: `service up after (1: /v2/health/live answered 200; it answered ${o.liveStatus || 'nothing'})`,
      value: o.liveStatus === 200 ? 1 : 0,
      unit: '',
      target: { comparison: '>=', bound: 1 },
    },
  );
  return lines;
}

export async function overload(ctx: BenchContext): Promise<Measurement> {
  const { value } = await withServer(serverOptions(ctx, 'overload'), async (server) => {
    const curve = ctx.args.saturate === undefined ? (ctx.batchingCurve ?? (await ramp(ctx, server))) : [];
    const connections = ctx.args.saturate ?? saturation(curve).connections;
    const peak = await measureRun({
      baseUrl: server.baseUrl,
      request: ctx.multipart,
      connections,
      ...timing(ctx),
      setting: 'peak',
      body: 'multipart',
    });
    console.log(runLine(peak.result));
    await sleep(SETTLE_MS);
    const baseline = server.rssKiB();
    const sampler = sampleRss(server);
    const over = await measureRun({
      baseUrl: server.baseUrl,
      request: ctx.multipart,
      connections: OVERLOAD_FACTOR * connections,
      ...timing(ctx),
      setting: `overload x${OVERLOAD_FACTOR}`,
      body: 'multipart',
    });
    const rssPeak = sampler.stop();
    console.log(runLine(over.result));
    await sleep(SETTLE_MS);
    return {
      peak: peak.result,
      overload: over,
      rssKiB: { baseline, peak: rssPeak, after: server.rssKiB() },
      liveStatus: await liveAfter(server),
      connections,
    };
  });
  const notes = [`Status codes under overload: ${JSON.stringify(value.overload.result.cannon.statusCodes)}.`];
  if ((value.overload.result.cannon.statusCodes['503'] ?? 0) === 0)
    notes.push('No 503 at all: the overload never filled the queue (MAX_QUEUE).');
  notes.push(
    `RSS (MiB): baseline ${fmt(value.rssKiB.baseline / 1024, 0)}, peak ${fmt(value.rssKiB.peak / 1024, 0)}, after ${fmt(value.rssKiB.after / 1024, 0)}.`,
  );
  return {
    id: 4,
    title: `Overload: ${OVERLOAD_FACTOR * value.connections} connections, ${OVERLOAD_FACTOR}x the ${value.connections} that saturate the service`,
    lines: overloadLines(value),
    runs: [value.peak, value.overload.result],
    notes,
  };
}
