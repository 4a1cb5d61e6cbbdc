// CPU per image of benchmark 1, by stage: the server's CPU in its HTTP windows against the raw
// engine's (this process) in its windows, split by thread role (threads.ts). The raw engine runs
// the same model on pre-made tensors, so server minus raw engine is what an image costs outside
// the model: decoding and resizing (libuv pool + libvips), the main thread's HTTP, multipart,
// batching and JSON, GC, and the engine threads' extra work (normalizing pixels in the worker, and
// onnxruntime slowed by sharing the cores with all of that). Pure functions, so the lines are tested.
import type { Line } from './common.ts';
import { median, medianInterval } from '../../lib/stats.ts';
import { THREAD_ROLE_NAMES, THREAD_ROLES, type CpuSplit, type ThreadRole } from '../../lib/threads.ts';

/** CPU of one measured window and the images it completed. */
export interface CpuWindow {
  /** The server process (HTTP windows only). */
  readonly serverS?: number;
  /** This process: the load generator in HTTP windows, the raw engine in engine windows. */
  readonly selfS: number;
  readonly images: number;
  /** By thread role: the server's in HTTP windows, this process's in engine windows. */
  readonly split?: CpuSplit;
  /** Main-thread GC pauses (the server's from /metrics, this process's from perf_hooks). */
  readonly mainGcS?: number;
  /** The worker writing batch inputs: normalizing crops, copying tensors (wall, summed over batches). */
  readonly workerInputS?: number;
  /** Batch round trips to the worker minus the time inside it (wall, summed over batches). */
  readonly workerTransferS?: number;
}

export interface CpuWindows {
  readonly http: readonly CpuWindow[];
  readonly engine: readonly CpuWindow[];
}

/** Most CPU outside the model an image may cost (the goal): server minus raw engine, ms. */
export const OUTSIDE_MODEL_TARGET_MS = 5;

/** Median milliseconds of CPU per image over the windows that completed images and have the value. */
export function cpuPerImageMs(windows: readonly CpuWindow[], pick: (w: CpuWindow) => number | undefined): number {
  return median(
    windows.filter((w) => w.images > 0 && pick(w) !== undefined).map((w) => ((pick(w) as number) * 1000) / w.images),
  );
}

/**
 * Server minus raw engine round by round (window i of each side ran next to the other in round
 * i): a slow stretch of a shared VM lands on both windows of its round instead of on one side's
 * median. Rounds without images on either side are left out.
 */
export function pairedOutsideDifferences(cpu: CpuWindows): number[] {
  const perImage = (seconds: number | undefined, images: number) =>
    seconds === undefined || images <= 0 ? Number.NaN : (seconds * 1000) / images;
  const rounds = Math.min(cpu.http.length, cpu.engine.length);
  return Array.from({ length: rounds }, (_, i) => {
    const http = cpu.http[i] as CpuWindow;
    const engine = cpu.engine[i] as CpuWindow;
    return perImage(http.serverS, http.images) - perImage(engine.selfS, engine.images);
  }).filter(Number.isFinite);
}

const roleOf = (role: ThreadRole) => (w: CpuWindow) => w.split?.byRole[role];

/** The server's CPU per image (process total) and the raw engine's, and what lies between them. */
export function cpuTotals(cpu: CpuWindows): { server: number; engine: number; client: number } {
  return {
    server: cpuPerImageMs(cpu.http, (w) => w.serverS),
    engine: cpuPerImageMs(cpu.engine, (w) => w.selfS),
    client: cpuPerImageMs(cpu.http, (w) => w.selfS),
  };
}

/** Lines of one model: totals, the part outside the model (with its target), then each thread role. */
export function cpuLines(cpu: CpuWindows, prefix = ''): Line[] {
  const { server, engine, client } = cpuTotals(cpu);
  const raw = { name: 'raw engine', value: engine };
  const paired = pairedOutsideDifferences(cpu); // its median is NaN without a complete pair
  const lines: Line[] = [
    { name: `${prefix}CPU per image: server process`, value: server, unit: 'ms', baseline: raw },
    {
      name: `${prefix}CPU per image: server + load generator (same cores)`,
      value: server + client,
      unit: 'ms',
      baseline: raw,
    },
    {
      // The verdict is on the paired value, as the images/s target is on the per-round ratios.
      name: `${prefix}CPU per image outside the model, paired by round (median of server - raw engine per round)`,
      value: median(paired),
      unit: 'ms',
      target: { comparison: '<=', bound: OUTSIDE_MODEL_TARGET_MS },
      interval: medianInterval(paired),
    },
    {
      name: `${prefix}CPU per image outside the model, medians of each side (server - raw engine)`,
      value: server - engine,
      unit: 'ms',
    },
  ];
  if (!cpu.http.some((w) => w.split !== undefined)) return lines;
  for (const role of THREAD_ROLES) {
    lines.push({
      name: `${prefix}  ${THREAD_ROLE_NAMES[role]}`,
      value: cpuPerImageMs(cpu.http, roleOf(role)),
      unit: 'ms',
      baseline: { name: 'raw engine', value: cpuPerImageMs(cpu.engine, roleOf(role)) },
    });
  }
  lines.push({
    name: `${prefix}  of which main-thread GC pauses`,
    value: cpuPerImageMs(cpu.http, (w) => w.mainGcS),
    unit: 'ms',
    baseline: { name: 'raw engine', value: cpuPerImageMs(cpu.engine, (w) => w.mainGcS) },
  });
  lines.push({
    name: `${prefix}  of which normalize/copy in the worker (wall; the raw engine copies ready tensors)`,
    value: cpuPerImageMs(cpu.http, (w) => w.workerInputS),
    unit: 'ms',
    baseline: { name: 'raw engine', value: cpuPerImageMs(cpu.engine, (w) => w.workerInputS) },
  });
  lines.push({
    name: `${prefix}  worker transfer: batch round trip minus time in the worker (wall)`,
    value: cpuPerImageMs(cpu.http, (w) => w.workerTransferS),
    unit: 'ms',
    baseline: { name: 'raw engine', value: cpuPerImageMs(cpu.engine, (w) => w.workerTransferS) },
  });
  return lines;
}

/**
 * The same model's server before and after (npm run bench -- --before REF): CPU per image of the
 * server process and of each stage, after against before, from the two servers' HTTP windows.
 */
export function beforeAfterLines(
  after: readonly CpuWindow[],
  before: readonly CpuWindow[],
  beforeName: string,
  prefix = '',
): Line[] {
  const line = (name: string, pick: (w: CpuWindow) => number | undefined): Line => ({
    name: `${prefix}after vs before: ${name}`,
    value: cpuPerImageMs(after, pick),
    unit: 'ms',
    baseline: { name: beforeName, value: cpuPerImageMs(before, pick) },
  });
  return [
    line('CPU per image, server process', (w) => w.serverS),
    ...THREAD_ROLES.map((role) => line(`  ${THREAD_ROLE_NAMES[role]}`, roleOf(role))),
    line('  of which main-thread GC pauses', (w) => w.mainGcS),
    line('  of which normalize/copy in the worker (wall)', (w) => w.workerInputS),
    line('  worker transfer (wall)', (w) => w.workerTransferS),
  ];
}
