// The warm-up that brings a fresh server to V8's steady state before its first measured window.
// V8 optimizes a function (TurboFan) once it has done enough work, so code that runs once per
// request (multipart, routing, preprocessing, the batcher, the response) is optimized only after a
// few thousand requests. Until then the server pays for compiling it on V8's platform threads
// (which the CPU split counts as GC helpers) and for running it unoptimized on the main thread:
// about 2 ms per image more over the first 400 images of the int8 server, falling to nothing by
// 2,500 (AMD EPYC; docs/performance.md, "JIT warm-up and idle"). The pauses between a server's windows no longer undo it: the service runs with
// --no-memory-reducer, which keeps the optimized code through idle.
// The warm-up is a number of images, not seconds, because the tier-up counts work, not time: the
// FP32 server serves half as many images per second as the int8 one.
import type { BenchContext } from './common.ts';
import { runCannon } from '../../lib/cannon.ts';
import { fmt } from '../../lib/report.ts';
import type { ServerHandle } from '../../lib/server.ts';
import { waitIdle } from '../../lib/server-metrics.ts';
import { snapshot } from '../../lib/threads.ts';

/** Hard stop of one warm-up: 2,500 images at the slowest FP32 rate seen here (about 8/s) with room. */
const JIT_WARMUP_MAX_S = 600;

/** What a warm-up served and what it cost the server. */
export interface JitWarmup {
  readonly images: number;
  readonly seconds: number;
  /** The server's CPU per image over the warm-up (all threads): the cold cost. */
  readonly serverCpuPerImageMs: number;
}

/** Serves --jit-warmup images at `connections` and waits for the queue to empty; none when 0. */
export async function warmJit(
  ctx: BenchContext,
  server: ServerHandle,
  connections: number,
  label: string,
): Promise<JitWarmup | undefined> {
  const wanted = ctx.args.jitWarmupImages;
  if (wanted === 0) return undefined;
  await waitIdle(server.baseUrl);
  const before = snapshot(server.pid);
  const { summary } = await runCannon({
    baseUrl: server.baseUrl,
    request: ctx.multipart,
    connections,
    amount: Math.ceil(wanted / ctx.multipart.images),
    maxSeconds: JIT_WARMUP_MAX_S,
    timeoutS: 30,
  });
  const cpuS = snapshot(server.pid).totalS - before.totalS;
  await waitIdle(server.baseUrl);
  const images = summary.ok * summary.imagesPerRequest;
  const warmup = { images, seconds: summary.durationS, serverCpuPerImageMs: images > 0 ? (cpuS * 1000) / images : 0 };
  console.log(
    `JIT warm-up ${label}: ${images} images in ${fmt(warmup.seconds, 0)} s, server CPU ${fmt(warmup.serverCpuPerImageMs)} ms per image`,
  );
  return warmup;
}
