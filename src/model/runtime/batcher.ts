// The dynamic batching policy, free of threads and onnxruntime so it can be tested with a fake
// clock and a fake runner. The contract is DataLoader's (one promise per item, results in order, a
// failed batch rejects exactly its members) plus a server's needs (docs/engine.md, "Batching
// semantics"): a bounded queue, per-request deadlines, cancellation, and at most `concurrency`
// batches running (one per model instance) while the next one forms.
import { errors, isServiceError, type ErrorCode, type ServiceError } from '../../errors.ts';
import type { EngineStats } from './stats.ts';
import { assertFiniteAtLeast, assertInteger, assertPositiveDuration } from './validate.ts';

/** Time source and scheduler; tests inject a fake one. Times are milliseconds. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Computes one batch; must return exactly one result per input, in input order. */
export type BatchRunner<TIn, TOut> = (inputs: readonly TIn[]) => Promise<readonly TOut[]>;

export interface BatcherOptions<TIn, TOut> {
  readonly maxBatchSize: number;
  /** How long the oldest queued request may wait for company; 0 = dispatch as soon as the runner is free. */
  readonly maxDelayMs: number;
  /** Queued requests (not counting the running batch) beyond which submit() rejects with QUEUE_FULL. */
  readonly maxQueue: number;
  /** Deadline for requests that bring none; Infinity = none. */
  readonly defaultDeadlineMs: number;
  /** Batches that may run at once (the model's instances); 1 unless given. setConcurrency changes it. */
  readonly concurrency?: number;
  readonly runner: BatchRunner<TIn, TOut>;
  readonly clock?: Clock;
  readonly stats?: EngineStats;
}

export interface SubmitOptions {
  /** Milliseconds from now after which a still-queued request is dropped with DEADLINE_EXCEEDED. */
  readonly deadlineMs?: number;
  /** Aborting drops a still-queued request with CANCELLED; a dispatched one completes normally. */
  readonly signal?: AbortSignal;
}

export type RejectionCode = Extract<
  ErrorCode,
  'QUEUE_FULL' | 'DEADLINE_EXCEEDED' | 'CANCELLED' | 'SHUTTING_DOWN' | 'NOT_READY'
>;

type Outcome<TOut> = { ok: true; results: readonly TOut[] } | { ok: false; error: unknown };

interface Pending<TIn, TOut> {
  readonly input: TIn;
  readonly enqueuedAt: number;
  readonly resolve: (value: TOut) => void;
  readonly reject: (error: unknown) => void;
  deadlineTimer?: unknown;
  signal?: AbortSignal;
  onAbort?: () => void;
}

// setTimeout's ceiling (2^31-1 ms, ~24.8 days): longer deadlines are treated as none.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Retry-After is estimated from this many recent batches and capped at this many seconds.
const THROUGHPUT_WINDOW = 16;
const MAX_RETRY_AFTER_S = 60;

export function serviceError(code: ErrorCode): ServiceError {
  const Create = errors[code] as unknown as new () => ServiceError;
  return new Create();
}

export class Batcher<TIn, TOut> {
  readonly #options: BatcherOptions<TIn, TOut>;
  readonly #clock: Clock;
  readonly #queue: Pending<TIn, TOut>[] = [];
  #running = 0;
  #runningBatches = 0;
  #concurrency: number;
  #paused = false;
  #closing = false;
  #delayTimer: unknown = undefined;
  #delayTimerAt = Number.NaN;
  #idleWaiters: (() => void)[] = [];
  readonly #recent: { size: number; seconds: number }[] = [];

  constructor(options: BatcherOptions<TIn, TOut>) {
    assertInteger('maxBatchSize', options.maxBatchSize, 1);
    assertFiniteAtLeast('maxDelayMs', options.maxDelayMs, 0);
    assertInteger('maxQueue', options.maxQueue, 1);
    assertPositiveDuration('defaultDeadlineMs', options.defaultDeadlineMs);
    if (typeof options.runner !== 'function') {
      throw new TypeError(
        `Expected \`runner\` to be a function, got \`${String(options.runner)}\` (${typeof options.runner})`,
      );
    }
    this.#concurrency = options.concurrency ?? 1;
    assertInteger('concurrency', this.#concurrency, 1);
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Requests waiting in the queue. */
  get queueDepth(): number {
    return this.#queue.length;
  }

  /** Images in the batches being computed, 0 when the runner is free. */
  get inFlight(): number {
    return this.#running;
  }

  /** Batches that may run at once from now on (at least 1; pause() stops dispatch altogether). */
  setConcurrency(concurrency: number): void {
    assertInteger('concurrency', concurrency, 1);
    this.#concurrency = concurrency;
    this.#pump();
  }

  submit(input: TIn, options: SubmitOptions = {}): Promise<TOut> {
    const deadlineMs = options.deadlineMs ?? this.#options.defaultDeadlineMs;
    try {
      assertPositiveDuration('deadlineMs', deadlineMs);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing) return this.#refuse('SHUTTING_DOWN');
    if (options.signal?.aborted) return this.#refuse('CANCELLED');
    if (this.#queue.length >= this.#options.maxQueue) return this.#refuse('QUEUE_FULL');
    return new Promise<TOut>((resolve, reject) => {
      const item: Pending<TIn, TOut> = { input, enqueuedAt: this.#clock.now(), resolve, reject };
      if (deadlineMs <= MAX_TIMER_MS) {
        item.deadlineTimer = this.#clock.setTimeout(() => this.#drop(item, 'DEADLINE_EXCEEDED'), deadlineMs);
      }
      if (options.signal) {
        item.signal = options.signal;
        item.onAbort = () => this.#drop(item, 'CANCELLED');
        options.signal.addEventListener('abort', item.onAbort, { once: true });
      }
      this.#queue.push(item);
      this.#emitDepth();
      this.#pump();
    });
  }

  /** Stop dispatching (the runner is unavailable); queued requests stay queued, deadlines still run. */
  pause(): void {
    this.#paused = true;
    this.#disarm();
  }

  resume(): void {
    this.#paused = false;
    this.#pump();
  }

  /** Reject every queued request with `code` (e.g. NOT_READY when the runner cannot be restored). */
  rejectQueued(code: RejectionCode): void {
    for (const item of this.#queue.splice(0)) this.#reject(item, code);
    this.#emitDepth();
    this.#disarm();
    this.#notifyIdle();
  }

  /** Stop intake (SHUTTING_DOWN), dispatch what is queued without waiting for company, resolve when idle. */
  close(): Promise<void> {
    this.#closing = true;
    this.#pump();
    return this.onIdle();
  }

  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void> {
    if (this.#queue.length === 0 && this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Seconds until the current backlog should have drained, from recent throughput; at least 1. */
  retryAfterSeconds(): number {
    let images = 0;
    let seconds = 0;
    for (const batch of this.#recent) {
      images += batch.size;
      seconds += batch.seconds;
    }
    if (images === 0 || seconds <= 0) return 1;
    // Batches run `concurrency` at a time, so the backlog drains that many times as fast.
    const backlog = this.#queue.length + this.#running;
    return Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil((backlog * seconds) / (images * this.#concurrency))));
  }

  #refuse(code: RejectionCode): Promise<never> {
    this.#options.stats?.emit('rejection', code);
    return Promise.reject(serviceError(code));
  }

  #drop(item: Pending<TIn, TOut>, code: RejectionCode): void {
    const index = this.#queue.indexOf(item);
    if (index === -1) return;
    this.#queue.splice(index, 1);
    this.#reject(item, code);
    this.#emitDepth();
    this.#pump();
    this.#notifyIdle();
  }

  #reject(item: Pending<TIn, TOut>, code: RejectionCode): void {
    this.#release(item);
    this.#options.stats?.emit('rejection', code);
    item.reject(serviceError(code));
  }

  #release(item: Pending<TIn, TOut>): void {
    if (item.deadlineTimer !== undefined) this.#clock.clearTimeout(item.deadlineTimer);
    if (item.signal && item.onAbort) item.signal.removeEventListener('abort', item.onAbort);
  }

  // Decide whether to dispatch now, later (arm the delay timer), or not at all. `delayElapsed`: the
  // delay timer fired (Node's timers may fire a fraction of a millisecond before performance.now()
  // reaches the due time, so the timer's word is taken rather than re-checking the clock).
  #pump(delayElapsed = false): void {
    const oldest = this.#queue[0];
    if (this.#runningBatches >= this.#concurrency || this.#paused || oldest === undefined) {
      this.#disarm();
      return;
    }
    const dueAt = oldest.enqueuedAt + this.#options.maxDelayMs;
    const due = delayElapsed || this.#clock.now() >= dueAt;
    if (due || this.#queue.length >= this.#options.maxBatchSize || this.#closing) {
      this.#disarm();
      void this.#dispatch();
      return;
    }
    if (this.#delayTimer !== undefined && this.#delayTimerAt === dueAt) return;
    this.#disarm();
    this.#delayTimerAt = dueAt;
    this.#delayTimer = this.#clock.setTimeout(() => {
      this.#delayTimer = undefined;
      this.#pump(true);
    }, dueAt - this.#clock.now());
  }

  #disarm(): void {
    if (this.#delayTimer === undefined) return;
    this.#clock.clearTimeout(this.#delayTimer);
    this.#delayTimer = undefined;
  }

  async #dispatch(): Promise<void> {
    const batch = this.#queue.splice(0, this.#options.maxBatchSize);
    const startedAt = this.#clock.now();
    for (const item of batch) {
      this.#release(item);
      this.#options.stats?.emit('queueWait', (startedAt - item.enqueuedAt) / 1000);
    }
    this.#emitDepth();
    this.#running += batch.length;
    this.#runningBatches++;
    const running = this.#run(batch.map((item) => item.input));
    // The runner has this batch; another instance may be free for the rest of the queue.
    this.#pump();
    const outcome = await running;
    const seconds = (this.#clock.now() - startedAt) / 1000;
    this.#running -= batch.length;
    this.#runningBatches--;
    if (outcome.ok) this.#record(batch.length, seconds);
    this.#options.stats?.emit('batch', { size: batch.length, computeSeconds: seconds, ok: outcome.ok });
    // Start the next batch before settling this one: the runner should not sit idle.
    this.#pump();
    this.#settle(batch, outcome);
    this.#notifyIdle();
  }

  async #run(inputs: readonly TIn[]): Promise<Outcome<TOut>> {
    try {
      const results = await this.#options.runner(inputs);
      if (results.length !== inputs.length) {
        throw new Error(`Batch runner returned ${results.length} results for ${inputs.length} inputs`);
      }
      return { ok: true, results };
    } catch (error) {
      return { ok: false, error };
    }
  }

  #settle(batch: readonly Pending<TIn, TOut>[], outcome: Outcome<TOut>): void {
    batch.forEach((item, i) => {
      if (outcome.ok) {
        item.resolve(outcome.results[i] as TOut);
        return;
      }
      this.#options.stats?.emit('rejection', isServiceError(outcome.error) ? outcome.error.code : 'INTERNAL');
      item.reject(outcome.error);
    });
  }

  #record(size: number, seconds: number): void {
    this.#recent.push({ size, seconds });
    if (this.#recent.length > THROUGHPUT_WINDOW) this.#recent.shift();
  }

  #emitDepth(): void {
    this.#options.stats?.emit('queueDepth', this.#queue.length);
  }

  #notifyIdle(): void {
    if (this.#queue.length !== 0 || this.#running !== 0) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
