import { describe, expect, it } from 'vitest';
import { Batcher, type BatcherOptions } from '../../../src/model/runtime/batcher.ts';
import { EngineStats } from '../../../src/model/runtime/stats.ts';
import { errors } from '../../../src/errors.ts';
import { FakeClock, ManualRunner, settle } from './fakes.ts';

type Options = Partial<Omit<BatcherOptions<string, string>, 'runner' | 'clock'>>;

function setup(options: Options = {}) {
  const clock = new FakeClock();
  const runner = new ManualRunner<string, string>();
  const stats = new EngineStats();
  const rejections: string[] = [];
  stats.on('rejection', (code) => rejections.push(code));
  const batcher = new Batcher<string, string>({
    maxBatchSize: 4,
    maxDelayMs: 0,
    maxQueue: 100,
    defaultDeadlineMs: 10_000,
    runner: runner.run,
    clock,
    stats,
    ...options,
  });
  return { clock, runner, stats, rejections, batcher };
}

const upper = (s: string) => s.toUpperCase();

/** Records how each promise ended: its value, or its error code. */
function track(promise: Promise<string>): { outcome: string | undefined } {
  const state: { outcome: string | undefined } = { outcome: undefined };
  promise.then(
    (value) => (state.outcome = value),
    (error: { code?: string; message: string }) => (state.outcome = error.code ?? error.message),
  );
  return state;
}

describe('Batcher options', () => {
  const valid = { maxBatchSize: 4, maxDelayMs: 5, maxQueue: 10, defaultDeadlineMs: 1000, runner: async () => [] };

  it.each([
    [{ maxBatchSize: 0 }, 'Expected `maxBatchSize` to be an integer >= 1, got `0` (number)'],
    [{ maxBatchSize: 2.5 }, 'Expected `maxBatchSize` to be an integer >= 1, got `2.5` (number)'],
    [{ maxBatchSize: '8' }, 'Expected `maxBatchSize` to be an integer >= 1, got `8` (string)'],
    [{ maxDelayMs: -1 }, 'Expected `maxDelayMs` to be a finite number >= 0, got `-1` (number)'],
    [{ maxDelayMs: Number.NaN }, 'Expected `maxDelayMs` to be a finite number >= 0, got `NaN` (number)'],
    [{ maxQueue: 0 }, 'Expected `maxQueue` to be an integer >= 1, got `0` (number)'],
    [
      { defaultDeadlineMs: 0 },
      'Expected `defaultDeadlineMs` to be a number of milliseconds > 0 (or Infinity), got `0` (number)',
    ],
    [{ runner: undefined }, 'Expected `runner` to be a function, got `undefined` (undefined)'],
    [{ concurrency: 0 }, 'Expected `concurrency` to be an integer >= 1, got `0` (number)'],
  ])('rejects %o with a message naming the option', (override, message) => {
    expect(() => new Batcher({ ...valid, ...override } as never)).toThrow(new TypeError(message));
  });

  it('rejects a per-request deadline that is not a positive number', async () => {
    const { batcher, runner } = setup();
    await expect(batcher.submit('a', { deadlineMs: -5 })).rejects.toThrow(
      'Expected `deadlineMs` to be a number of milliseconds > 0 (or Infinity), got `-5` (number)',
    );
    expect(runner.calls).toHaveLength(0);
  });
});

describe('Batch composition', () => {
  it('with maxDelayMs 0 dispatches a lone request at once and batches the ones that arrive while it computes', async () => {
    const { batcher, runner } = setup({ maxBatchSize: 4, maxDelayMs: 0 });
    const results = ['a', 'b', 'c', 'd', 'e', 'f'].map((x) => batcher.submit(x));
    expect(runner.batches).toEqual([['a']]);
    runner.complete(0, upper);
    await settle();
    expect(runner.batches).toEqual([['a'], ['b', 'c', 'd', 'e']]);
    runner.complete(1, upper);
    await settle();
    expect(runner.batches).toEqual([['a'], ['b', 'c', 'd', 'e'], ['f']]);
    runner.complete(2, upper);
    await expect(Promise.all(results)).resolves.toEqual(['A', 'B', 'C', 'D', 'E', 'F']);
  });

  it('holds a non-full batch until the oldest request has waited maxDelayMs', async () => {
    const { batcher, runner, clock } = setup({ maxBatchSize: 4, maxDelayMs: 10 });
    void batcher.submit('a');
    clock.advance(4);
    void batcher.submit('b');
    clock.advance(5);
    expect(runner.calls).toHaveLength(0);
    clock.advance(1);
    expect(runner.batches).toEqual([['a', 'b']]);
    expect(clock.now()).toBe(10);
  });

  it('dispatches a full batch without waiting for maxDelayMs', () => {
    const { batcher, runner, clock } = setup({ maxBatchSize: 3, maxDelayMs: 1000 });
    for (const x of ['a', 'b', 'c', 'd']) void batcher.submit(x);
    expect(runner.batches).toEqual([['a', 'b', 'c']]);
    expect(clock.now()).toBe(0);
  });

  it('dispatches at once when the queued requests already waited maxDelayMs behind a running batch', async () => {
    const { batcher, runner, clock } = setup({ maxBatchSize: 4, maxDelayMs: 10 });
    for (const x of ['a', 'b', 'c', 'd', 'e']) void batcher.submit(x);
    clock.advance(30);
    runner.complete(0, upper);
    await settle();
    expect(runner.batches).toEqual([['a', 'b', 'c', 'd'], ['e']]);
    expect(clock.now()).toBe(30);
  });

  it('keeps at most one batch running while the next one forms', async () => {
    const { batcher, runner } = setup({ maxBatchSize: 2, maxDelayMs: 0 });
    for (const x of ['a', 'b', 'c', 'd', 'e']) void batcher.submit(x);
    runner.complete(0, upper);
    await settle();
    expect(runner.batches).toEqual([['a'], ['b', 'c']]);
    expect(batcher.inFlight).toBe(2);
    expect(batcher.queueDepth).toBe(2);
  });

  it('with concurrency 2 runs two batches at once and the next one forms behind them', async () => {
    const { batcher, runner } = setup({ maxBatchSize: 2, maxDelayMs: 0, concurrency: 2 });
    const results = ['a', 'b', 'c', 'd', 'e', 'f'].map((x) => batcher.submit(x));
    // Each of the first two requests finds an instance free; the rest queue behind them.
    expect(runner.batches).toEqual([['a'], ['b']]);
    expect(batcher.inFlight).toBe(2);
    expect(batcher.queueDepth).toBe(4);
    runner.complete(1, upper);
    await settle();
    expect(runner.batches).toEqual([['a'], ['b'], ['c', 'd']]);
    runner.complete(0, upper);
    await settle();
    expect(runner.batches).toEqual([['a'], ['b'], ['c', 'd'], ['e', 'f']]);
    expect(batcher.inFlight).toBe(4);
    await runner.completeInTurn(2, 3, upper);
    await expect(Promise.all(results)).resolves.toEqual(['A', 'B', 'C', 'D', 'E', 'F']);
  });

  it('setConcurrency lowers and raises how many batches run at once', async () => {
    const { batcher, runner } = setup({ maxBatchSize: 1, maxDelayMs: 0, concurrency: 2 });
    batcher.setConcurrency(1);
    for (const x of ['a', 'b', 'c', 'd']) void batcher.submit(x);
    expect(runner.batches).toEqual([['a']]);
    batcher.setConcurrency(3);
    expect(runner.batches).toEqual([['a'], ['b'], ['c']]);
    expect(() => batcher.setConcurrency(0)).toThrow('Expected `concurrency` to be an integer >= 1, got `0` (number)');
  });

  it('gives every request its own result, in submission order', async () => {
    const { batcher, runner } = setup({ maxBatchSize: 8 });
    void batcher.submit('first');
    const rest = ['p', 'q', 'r'].map((x) => batcher.submit(x));
    runner.complete(0, upper);
    await settle();
    runner.call(1).resolve(['p1', 'q1', 'r1']);
    await expect(Promise.all(rest)).resolves.toEqual(['p1', 'q1', 'r1']);
  });
});

describe('Failures', () => {
  it('rejects exactly the members of a failed batch and serves the next batch', async () => {
    const { batcher, runner, rejections } = setup({ maxBatchSize: 2 });
    const states = ['a', 'b', 'c', 'd'].map((x) => track(batcher.submit(x)));
    expect(runner.batches).toEqual([['a']]);
    runner.call(0).resolve(['A']);
    await settle();
    expect(runner.batches[1]).toEqual(['b', 'c']);
    runner.call(1).reject(new errors.WORKER_FAILED());
    await settle();
    runner.complete(2, upper);
    await settle();
    expect(runner.batches).toEqual([['a'], ['b', 'c'], ['d']]);
    expect(states.map((s) => s.outcome)).toEqual(['A', 'WORKER_FAILED', 'WORKER_FAILED', 'D']);
    expect(rejections).toEqual(['WORKER_FAILED', 'WORKER_FAILED']);
  });

  it('rejects the batch when the runner returns the wrong number of results', async () => {
    const { batcher, runner, rejections } = setup({ maxBatchSize: 4 });
    const a = batcher.submit('a');
    runner.call(0).resolve(['A', 'extra']);
    await expect(a).rejects.toThrow('Batch runner returned 2 results for 1 inputs');
    expect(rejections).toEqual(['INTERNAL']);
  });

  it('rejects a batch whose runner throws synchronously', async () => {
    const batcher = new Batcher<string, string>({
      maxBatchSize: 2,
      maxDelayMs: 0,
      maxQueue: 4,
      defaultDeadlineMs: 1000,
      runner: () => {
        throw new errors.WORKER_FAILED();
      },
    });
    await expect(batcher.submit('a')).rejects.toMatchObject({ code: 'WORKER_FAILED', statusCode: 503 });
  });
});

describe('Backpressure', () => {
  it('rejects at once with QUEUE_FULL beyond maxQueue queued requests, without computing them', async () => {
    const { batcher, runner, rejections } = setup({ maxBatchSize: 1, maxQueue: 2 });
    const accepted = ['a', 'b', 'c'].map((x) => track(batcher.submit(x)));
    await expect(batcher.submit('d')).rejects.toMatchObject({ code: 'QUEUE_FULL', statusCode: 503 });
    expect(batcher.queueDepth).toBe(2);
    expect(rejections).toEqual(['QUEUE_FULL']);
    await runner.completeInTurn(0, 2, upper);
    expect(runner.batches.flat()).toEqual(['a', 'b', 'c']);
    expect(accepted.map((s) => s.outcome)).toEqual(['A', 'B', 'C']);
  });

  it('estimates Retry-After from recent throughput and the backlog', async () => {
    const { batcher, runner, clock } = setup({ maxBatchSize: 4, maxQueue: 100 });
    expect(batcher.retryAfterSeconds()).toBe(1);
    for (let i = 0; i < 5; i++) void batcher.submit(`x${i}`);
    // Batch 1 (1 image) takes 1 s, batch 2 (4 images) takes 1 s: 5 images in 2 s = 2.5 images/s.
    clock.advance(1000);
    runner.complete(0, upper);
    await settle();
    clock.advance(1000);
    runner.complete(1, upper);
    await settle();
    for (let i = 0; i < 21; i++) void batcher.submit(`y${i}`);
    // Backlog: 1 running + 20 queued = 21 images / 2.5 per second = 8.4 s -> 9.
    expect(batcher.queueDepth + batcher.inFlight).toBe(21);
    expect(batcher.retryAfterSeconds()).toBe(9);
  });

  it('estimates a backlog that concurrent batches drain that many times as fast', async () => {
    const { batcher, runner, clock } = setup({ maxBatchSize: 4, maxDelayMs: 5, maxQueue: 100, concurrency: 2 });
    // Two full batches of 4 images at once, each taking 2 s: 2 images/s per batch, 4 images/s in all.
    for (let i = 0; i < 8; i++) void batcher.submit(`x${i}`);
    expect(runner.batches).toHaveLength(2);
    clock.advance(2000);
    runner.complete(0, upper);
    runner.complete(1, upper);
    await settle();
    for (let i = 0; i < 40; i++) void batcher.submit(`y${i}`);
    // Backlog: 8 running + 32 queued = 40 images / 4 per second = 10 s.
    expect(batcher.queueDepth + batcher.inFlight).toBe(40);
    expect(batcher.retryAfterSeconds()).toBe(10);
  });

  it('caps Retry-After at 60 seconds', async () => {
    const { batcher, runner, clock } = setup({ maxBatchSize: 1, maxQueue: 1000 });
    void batcher.submit('slow');
    clock.advance(10_000);
    runner.complete(0, upper);
    await settle();
    for (let i = 0; i < 10; i++) void batcher.submit(`x${i}`);
    expect(batcher.retryAfterSeconds()).toBe(60);
  });
});

describe('Deadlines', () => {
  it('drops a request still queued at its deadline with DEADLINE_EXCEEDED and never computes it', async () => {
    const { batcher, runner, clock, rejections } = setup({ maxBatchSize: 4 });
    void batcher.submit('busy');
    const late = track(batcher.submit('late', { deadlineMs: 50 }));
    const patient = track(batcher.submit('patient'));
    clock.advance(49);
    await settle();
    expect(late.outcome).toBeUndefined();
    clock.advance(1);
    await settle();
    expect(late.outcome).toBe('DEADLINE_EXCEEDED');
    expect(batcher.queueDepth).toBe(1);
    await runner.completeInTurn(0, 1, upper);
    expect(runner.batches).toEqual([['busy'], ['patient']]);
    expect(patient.outcome).toBe('PATIENT');
    expect(rejections).toEqual(['DEADLINE_EXCEEDED']);
  });

  it('applies defaultDeadlineMs to requests that bring no deadline', async () => {
    const { batcher, clock } = setup({ defaultDeadlineMs: 200 });
    void batcher.submit('busy');
    const queued = batcher.submit('queued');
    clock.advance(200);
    await expect(queued).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED', statusCode: 504 });
  });

  it('lets a dispatched request finish after its deadline has passed', async () => {
    const { batcher, runner, clock } = setup();
    const running = batcher.submit('a', { deadlineMs: 10 });
    clock.advance(100);
    runner.complete(0, upper);
    await expect(running).resolves.toBe('A');
    expect(clock.pendingTimers).toBe(0);
  });

  it('with Infinity as deadline sets no timer', () => {
    const { batcher, clock } = setup({ defaultDeadlineMs: Number.POSITIVE_INFINITY });
    void batcher.submit('a');
    void batcher.submit('b');
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('Cancellation', () => {
  it('drops an aborted queued request with CANCELLED without computing it', async () => {
    const { batcher, runner, rejections } = setup({ maxBatchSize: 4 });
    void batcher.submit('busy');
    const controller = new AbortController();
    const gone = track(batcher.submit('gone', { signal: controller.signal }));
    const stays = track(batcher.submit('stays'));
    controller.abort();
    await settle();
    expect(gone.outcome).toBe('CANCELLED');
    await runner.completeInTurn(0, 1, upper);
    expect(runner.batches).toEqual([['busy'], ['stays']]);
    expect(stays.outcome).toBe('STAYS');
    expect(rejections).toEqual(['CANCELLED']);
  });

  it('rejects a request whose signal is already aborted', async () => {
    const { batcher, runner } = setup();
    await expect(batcher.submit('a', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(runner.calls).toHaveLength(0);
  });

  it('lets a dispatched request complete when its signal aborts', async () => {
    const { batcher, runner } = setup();
    const controller = new AbortController();
    const running = batcher.submit('a', { signal: controller.signal });
    controller.abort();
    runner.complete(0, upper);
    await expect(running).resolves.toBe('A');
  });
});

describe('Pause, resume and close', () => {
  it('holds queued requests while paused and dispatches them on resume', async () => {
    const { batcher, runner } = setup({ maxBatchSize: 4 });
    batcher.pause();
    const results = ['a', 'b'].map((x) => batcher.submit(x));
    await settle();
    expect(runner.calls).toHaveLength(0);
    batcher.resume();
    expect(runner.batches).toEqual([['a', 'b']]);
    runner.complete(0, upper);
    await expect(Promise.all(results)).resolves.toEqual(['A', 'B']);
  });

  it('rejectQueued rejects every queued request with the given code', async () => {
    const { batcher, rejections } = setup();
    batcher.pause();
    const results = ['a', 'b'].map((x) => batcher.submit(x));
    batcher.rejectQueued('NOT_READY');
    await expect(results[0]).rejects.toMatchObject({ code: 'NOT_READY', statusCode: 503 });
    await expect(results[1]).rejects.toMatchObject({ code: 'NOT_READY' });
    expect(batcher.queueDepth).toBe(0);
    expect(rejections).toEqual(['NOT_READY', 'NOT_READY']);
  });

  it('close stops intake, flushes the queue without waiting for maxDelayMs and resolves when idle', async () => {
    const { batcher, runner, clock } = setup({ maxBatchSize: 2, maxDelayMs: 1000 });
    const results = ['a', 'b', 'c'].map((x) => batcher.submit(x));
    expect(runner.batches).toEqual([['a', 'b']]);
    let closed = false;
    const closing = batcher.close().then(() => (closed = true));
    await expect(batcher.submit('late')).rejects.toMatchObject({ code: 'SHUTTING_DOWN', statusCode: 503 });
    runner.complete(0, upper);
    await settle();
    expect(runner.batches).toEqual([['a', 'b'], ['c']]);
    expect(clock.now()).toBe(0);
    expect(closed).toBe(false);
    runner.complete(1, upper);
    await closing;
    await expect(Promise.all(results)).resolves.toEqual(['A', 'B', 'C']);
  });

  it('close on an idle batcher resolves at once', async () => {
    const { batcher } = setup();
    await expect(batcher.close()).resolves.toBeUndefined();
  });
});

describe('Stats', () => {
  it('reports queue depth, queue wait, batch size and compute time', async () => {
    const { batcher, runner, clock, stats } = setup({ maxBatchSize: 2, maxDelayMs: 5 });
    const depths: number[] = [];
    const waits: number[] = [];
    const batches: unknown[] = [];
    stats.on('queueDepth', (d) => depths.push(d));
    stats.on('queueWait', (s) => waits.push(s));
    stats.on('batch', (b) => batches.push(b));
    void batcher.submit('a');
    clock.advance(2);
    void batcher.submit('b');
    clock.advance(250);
    runner.complete(0, upper);
    await settle();
    expect(depths).toEqual([1, 2, 0]);
    expect(waits).toEqual([0.002, 0]);
    expect(batches).toEqual([{ size: 2, computeSeconds: 0.25, ok: true }]);
  });
});
