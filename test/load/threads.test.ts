import { describe, expect, it } from 'vitest';
import { CpuMeter, parseThreadRoles, snapshot, splitCpu, type CpuSnapshot } from '../../load/lib/threads.ts';

const BACKTRACES = `
Thread 5 (Thread 0x7f1bf59fc6c0 (LWP 28018) "node"):
#0  __futex_abstimed_wait_common64 (private=0) at ./nptl/futex-internal.c:57
#6  0x00007f872ac2090f in ?? () from /x/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
Thread 4 (Thread 0x7f1bf65fe6c0 (LWP 28016) "node"):
#1  0x00000000018c0366 in uv__io_poll (loop=loop@entry=0x7f8ef21fc9e8, timeout=-1) at ../deps/uv/src/unix/linux.c:1368
#4  0x0000000000dbb106 in node::worker::Worker::Run() ()
Thread 3 (Thread 0x7f1bf87bc6c0 (LWP 27991) "node"):
#6  0x00000000018a7bdc in worker (arg=0x0) at ../deps/uv/src/threadpool.c:76
Thread 2 (Thread 0x7f1c1a7fc6c0 (LWP 27986) "node"):
#6  0x0000000000d32c5b in node::(anonymous namespace)::PlatformWorkerThread(void*) ()
Thread 6 (Thread 0x7f1c214096c0 (LWP 27987) "node"):
#7  uv_sem_wait (sem=0x5660460 <node::inspector::(anonymous namespace)::start_io_thread_semaphore>)
Thread 1 (Thread 0x7f1c212edc80 (LWP 27980) "node"):
#3  0x0000000000bbbbe6 in node::Start(int, char**) ()
`;

const snap = (totalS: number, threads: [number, number, string?][]): CpuSnapshot => ({
  totalS,
  threads: new Map(threads.map(([tid, seconds, comm]) => [tid, { seconds, comm: comm ?? 'node' }])),
});

describe('thread roles and CPU by role', () => {
  it('reads each thread role from its gdb backtrace: engine, decode pool, GC helpers, main, other', () => {
    const roles = parseThreadRoles(BACKTRACES, 27980);
    expect(Object.fromEntries(roles)).toEqual({
      28018: 'engine',
      28016: 'engine',
      27991: 'decode',
      27986: 'gc',
      27987: 'other',
      27980: 'main',
    });
  });

  it('splits a window by role; libvips workers count as decode, exited threads as other', () => {
    const roles = parseThreadRoles(BACKTRACES, 27980);
    const before = snap(10, [
      [27980, 2],
      [27991, 1],
      [28018, 4],
    ]);
    const after = snap(16.5, [
      [27980, 2.5],
      [27991, 1.25],
      [28018, 8],
      [31000, 0.5, 'libvips worker'],
      [31001, 0.25],
    ]);
    const split = splitCpu(before, after, roles, 27980);
    expect(split.totalS).toBeCloseTo(6.5, 9);
    expect(split.byRole.main).toBeCloseTo(0.5, 9);
    expect(split.byRole.decode).toBeCloseTo(0.75, 9);
    expect(split.byRole.engine).toBeCloseTo(4, 9);
    expect(split.byRole.gc).toBe(0);
    // 0.25 s of an unknown thread plus 1 s that no live thread accounts for.
    expect(split.byRole.other).toBeCloseTo(1.25, 9);
  });

  it('reads this process from /proc: the main thread and the total', () => {
    const s = snapshot(process.pid);
    expect(s.threads.has(process.pid)).toBe(true);
    expect(s.totalS).toBeGreaterThan(0);
    const meter = new CpuMeter(process.pid);
    const window = meter.start();
    let x = 0;
    for (let i = 0; i < 3e7; i++) x += i % 7;
    const split = window.stop();
    expect(x).toBeGreaterThan(0);
    expect(split.byRole.main).toBeGreaterThan(0);
    // /proc counts in clock ticks (10 ms), and the process total is read a moment before its threads.
    expect(split.totalS).toBeGreaterThanOrEqual(split.byRole.main - 0.02);
  });
});
