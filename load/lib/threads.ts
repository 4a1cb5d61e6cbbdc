// CPU time per thread of a process, grouped by what the thread does, so a benchmark can say where
// the CPU of an image goes: the main thread (HTTP, multipart, JSON, batching), the decoders
// (libuv's pool, where sharp's work starts, and libvips' own workers), V8's platform threads (GC
// helpers), and the engine (its worker thread and onnxruntime's threads). Node 20 names every
// thread "node", so a thread's role is read from its stack, once per process, with gdb (`thread
// apply all bt`: about a second, the process is stopped meanwhile); libvips names its workers
// itself. Without gdb every unnamed thread but the main one counts as "other".
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { parseCpuSeconds, readCpuSeconds } from './server.ts';

export const THREAD_ROLES = ['main', 'decode', 'gc', 'engine', 'other'] as const;
export type ThreadRole = (typeof THREAD_ROLES)[number];

export const THREAD_ROLE_NAMES: Readonly<Record<ThreadRole, string>> = {
  main: 'main thread',
  decode: 'decode/resize (libuv pool + libvips workers)',
  gc: 'GC helpers (V8 platform threads)',
  engine: 'engine threads (worker + onnxruntime)',
  other: 'other threads (and threads that exited)',
};

interface ThreadSample {
  readonly seconds: number;
  readonly comm: string;
}

/** One reading of a process: its total CPU (exited threads included) and each live thread's. */
export interface CpuSnapshot {
  readonly totalS: number;
  readonly threads: ReadonlyMap<number, ThreadSample>;
}

/** CPU seconds of a window, in total and by role. */
export interface CpuSplit {
  readonly totalS: number;
  readonly byRole: Readonly<Record<ThreadRole, number>>;
}

export function snapshot(pid: number): CpuSnapshot {
  const threads = new Map<number, ThreadSample>();
  const totalS = readCpuSeconds(pid);
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const dir = `/proc/${pid}/task/${tid}`;
      const seconds = parseCpuSeconds(readFileSync(`${dir}/stat`, 'latin1'));
      threads.set(Number(tid), { seconds, comm: readFileSync(`${dir}/comm`, 'latin1').trim() });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return { totalS, threads };
}

/** Which frames say what a thread is (first match wins; main is the thread whose id is the pid). */
const FRAME_ROLES: readonly [RegExp, ThreadRole][] = [
  [/libonnxruntime|node::worker::Worker::Run/, 'engine'],
  [/threadpool\.c|uv__work|libvips/, 'decode'],
  [/PlatformWorkerThread|DelayedTaskScheduler/, 'gc'],
];

/** Roles from gdb's `thread apply all bt` output: one "Thread N (... (LWP tid) ...)" block per thread. */
export function parseThreadRoles(backtraces: string, pid: number): Map<number, ThreadRole> {
  const roles = new Map<number, ThreadRole>();
  for (const block of backtraces.split(/^(?=Thread \d+ )/m)) {
    const lwp = /^Thread \d+ \(.*?LWP (\d+)\)/.exec(block);
    if (lwp === null) continue;
    const tid = Number(lwp[1]);
    const role = tid === pid ? 'main' : (FRAME_ROLES.find(([pattern]) => pattern.test(block))?.[1] ?? 'other');
    roles.set(tid, role);
  }
  return roles;
}

/** Each thread's role, from one gdb backtrace of the process; undefined when gdb is unavailable. */
export function classifyThreads(pid: number): Map<number, ThreadRole> | undefined {
  const gdb = spawnSync(
    'gdb',
    ['-p', String(pid), '-batch', '-nx', '-ex', 'set auto-load off', '-ex', 'thread apply all bt 40'],
    { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
  );
  if (gdb.error !== undefined || gdb.status !== 0) return undefined;
  const roles = parseThreadRoles(gdb.stdout, pid);
  return roles.size > 0 ? roles : undefined;
}

function roleOf(tid: number, comm: string, pid: number, roles: ReadonlyMap<number, ThreadRole> | undefined) {
  if (tid === pid) return 'main';
  // glib names libvips' pool threads; they come and go, so gdb may not have seen them.
  if (comm.startsWith('libvips')) return 'decode';
  return roles?.get(tid) ?? 'other';
}

/** CPU between two snapshots by role; threads that exited in between count as other. */
export function splitCpu(
  before: CpuSnapshot,
  after: CpuSnapshot,
  roles: ReadonlyMap<number, ThreadRole> | undefined,
  pid: number,
): CpuSplit {
  const byRole: Record<ThreadRole, number> = { main: 0, decode: 0, gc: 0, engine: 0, other: 0 };
  let live = 0;
  for (const [tid, sample] of after.threads) {
    const seconds = sample.seconds - (before.threads.get(tid)?.seconds ?? 0);
    byRole[roleOf(tid, sample.comm, pid, roles)] += seconds;
    live += seconds;
  }
  const totalS = Math.round((after.totalS - before.totalS) * 1e6) / 1e6;
  byRole.other += Math.max(0, totalS - live);
  // /proc counts in ticks of 10 ms: round away the float noise of the differences.
  for (const role of THREAD_ROLES) byRole[role] = Math.round(byRole[role] * 1e6) / 1e6;
  return { totalS, byRole };
}

/** A process's CPU by role, window by window (the roles are read once, at the first window). */
export class CpuMeter {
  readonly pid: number;
  #roles: ReadonlyMap<number, ThreadRole> | undefined;
  #classified = false;

  constructor(pid: number) {
    this.pid = pid;
  }

  /** Reads the roles now (call it once the process has all its threads, e.g. after a warm-up). */
  classify(): void {
    this.#roles = classifyThreads(this.pid);
    this.#classified = true;
  }

  get classified(): boolean {
    return this.#roles !== undefined;
  }

  start(): { stop(): CpuSplit } {
    if (!this.#classified) this.classify();
    const before = snapshot(this.pid);
    return { stop: () => splitCpu(before, snapshot(this.pid), this.#roles, this.pid) };
  }
}
