// Benchmark 4: overload at 8x the connections that saturate the service, and at 256 connections
// when that is not the same (the load generator shares the cores, so many connections cost CPU
// on both sides). What must hold: only 200s and fast 503s (with Retry-After), images/s >= 90% of
// the peak, RSS bounded and back near its baseline afterwards, and the service still up. The
// saturating connection count is the smallest whose images/s is within 5% of the best of a ramp
// (or --saturate). Each window also measures the server's CPU, so what a refusal costs is known:
// the CPU of the overload window beyond its images (at the peak's CPU per image), per 503.
import { setTimeout as sleep } from 'node:timers/promises';
import { sampleRss, serverOptions, timing, type BenchContext, type Line, type Measurement } from './common.ts';
import { warmJit } from './jit-warmup.ts';
import { runCannon, type CannonRun } from '../../lib/cannon.ts';
import { measureRun, runLine, type MeasureOptions } from '../../lib/measure.ts';
import { fmt, type RunResult } from '../../lib/report.ts';
import { withServer, type ServerHandle } from '../../lib/server.ts';
import { CpuMeter, type CpuSplit } from '../../lib/threads.ts';

export const OVERLOAD_FACTOR = 8;
/** The connection count the issue also asks about, whatever the saturating count. */
export const OVERLOAD_CONNECTIONS_ALSO = 256;
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

/** A measured window with the server's CPU (by thread) and this process's (the load generator). */
export interface CpuMeasured {
  readonly result: RunResult;
  readonly run: CannonRun;
  readonly server: CpuSplit;
  readonly clientS: number;
}

/** Images completed in a window (2xx responses times images per request). */
const imagesOf = (r: RunResult) => r.cannon.imagesPerSecond * r.cannon.durationS;

/**
 * Server CPU per 503 (ms): the overload window's CPU beyond what its images cost at the peak's CPU
 * per image, divided by its 503s; the same for the main thread alone, which answers the refusals.
 */
export function cpuPer503(peak: CpuMeasured, over: CpuMeasured): { serverMs: number; mainMs: number; imageMs: number } {
  const refused = over.result.cannon.statusCodes['503'] ?? 0;
  const peakImages = imagesOf(peak.result);
  const overImages = imagesOf(over.result);
  const beyond = (a: number, b: number) =>
    refused > 0 && peakImages > 0 ? (1000 * (a - (overImages * b) / peakImages)) / refused : Number.NaN;
  return {
    serverMs: beyond(over.server.totalS, peak.server.totalS),
    mainMs: beyond(over.server.byRole.main, peak.server.byRole.main),
    imageMs: peakImages > 0 ? (1000 * peak.server.totalS) / peakImages : Number.NaN,
  };
}

/** Goodput of an overload window against the peak: the issue's >= 0.9. */
export function goodputLine(peak: RunResult, over: RunResult): Line {
  return {
    name: `images/s at ${over.cannon.connections} connections`,
    value: over.cannon.imagesPerSecond,
    unit: 'images/s',
    baseline: { name: `peak (${peak.cannon.connections} connections)`, value: peak.cannon.imagesPerSecond },
    target: { comparison: '>=', bound: 0.9 },
  };
}

/** What a 503 cost the server (and the load generator) in an overload window; none without 503s. */
export function refusalCostLines(peak: CpuMeasured, over: CpuMeasured): Line[] {
  const c = over.result.cannon;
  if ((c.statusCodes['503'] ?? 0) === 0) return [];
  const cost = cpuPer503(peak, over);
  return [
    {
      name: `server CPU per 503 at ${c.connections} connections`,
      value: cost.serverMs,
      unit: 'ms',
      baseline: { name: 'server CPU per image at the peak', value: cost.imageMs },
    },
    { name: `  of which the main thread`, value: cost.mainMs, unit: 'ms' },
    {
      name: `  load generator CPU per response at ${c.connections} connections`,
      value: c.responses > 0 ? (1000 * over.clientS) / c.responses : Number.NaN,
      unit: 'ms',
    },
  ];
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
    goodputLine(o.peak, o.overload.result),
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

function selfCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** measureRun with the server's CPU (by thread) and this process's over the measured window. */
async function measureCpu(meter: CpuMeter, options: MeasureOptions): Promise<CpuMeasured> {
  let window: { stop(): CpuSplit } | undefined;
  let server: CpuSplit | undefined;
  let self0 = 0;
  let clientS = 0;
  const measured = await measureRun(options, runCannon, {
    started: () => {
      window = meter.start();
      self0 = selfCpuSeconds();
    },
    ended: () => {
      server = window?.stop();
      clientS = selfCpuSeconds() - self0;
    },
  });
  if (server === undefined) throw new Error('The measured window did not run');
  console.log(runLine(measured.result));
  return { ...measured, server, clientS };
}

export async function overload(ctx: BenchContext): Promise<Measurement> {
  const { value } = await withServer(serverOptions(ctx, 'overload'), async (server) => {
    const curve = ctx.args.saturate === undefined ? (ctx.batchingCurve ?? (await ramp(ctx, server))) : [];
    const connections = ctx.args.saturate ?? saturation(curve).connections;
    const meter = new CpuMeter(server.pid);
    const window = (c: number, setting: string) =>
      measureCpu(meter, {
        baseUrl: server.baseUrl,
        request: ctx.multipart,
        connections: c,
        ...timing(ctx),
        setting,
        body: 'multipart',
      });
    const warmup = await warmJit(ctx, server, connections, 'overload server');
    const peak = await window(connections, 'peak');
    await sleep(SETTLE_MS);
    const baseline = server.rssKiB();
    const sampler = sampleRss(server);
    const over = await window(OVERLOAD_FACTOR * connections, `overload x${OVERLOAD_FACTOR}`);
    const rssPeak = sampler.stop();
    await sleep(SETTLE_MS);
    const rssAfter = server.rssKiB();
    const also =
      OVERLOAD_FACTOR * connections === OVERLOAD_CONNECTIONS_ALSO
        ? undefined
        : await window(OVERLOAD_CONNECTIONS_ALSO, `overload at ${OVERLOAD_CONNECTIONS_ALSO}`);
    return {
      peak,
      overload: over,
      also,
      rssKiB: { baseline, peak: rssPeak, after: rssAfter },
      liveStatus: await liveAfter(server),
      connections,
      warmup,
    };
  });
  const notes = [`Status codes under overload: ${JSON.stringify(value.overload.result.cannon.statusCodes)}.`];
  if (value.warmup)
    notes.push(
      `A JIT warm-up of ${value.warmup.images} images at ${value.connections} connections before the peak window.`,
    );
  if (value.also)
    notes.push(`At ${OVERLOAD_CONNECTIONS_ALSO} connections: ${JSON.stringify(value.also.result.cannon.statusCodes)}.`);
  if ((value.overload.result.cannon.statusCodes['503'] ?? 0) === 0)
    notes.push('No 503 at all: the overload never filled the queue (MAX_QUEUE).');
  notes.push(
    `RSS (MiB): baseline ${fmt(value.rssKiB.baseline / 1024, 0)}, peak ${fmt(value.rssKiB.peak / 1024, 0)}, after ${fmt(value.rssKiB.after / 1024, 0)}.`,
    "CPU per 503: the overload window's server CPU beyond its images at the peak window's CPU per image, divided by its 503s.",
  );
  return {
    id: 4,
    title: `Overload: ${OVERLOAD_FACTOR * value.connections} connections, ${OVERLOAD_FACTOR}x the ${value.connections} that saturate the service${value.also ? `, and ${OVERLOAD_CONNECTIONS_ALSO}` : ''}`,
    lines: [
      ...overloadLines({ ...value, peak: value.peak.result }),
      ...refusalCostLines(value.peak, value.overload),
      ...(value.also
        ? [goodputLine(value.peak.result, value.also.result), ...refusalCostLines(value.peak, value.also)]
        : []),
    ],
    runs: [value.peak.result, value.overload.result, ...(value.also ? [value.also.result] : [])],
    notes,
  };
}
