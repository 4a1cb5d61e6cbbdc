// The main thread's handle on one worker thread: spawning (also under tsx), the message protocol,
// and what happens when the thread dies. A WorkerClient is not restarted; the engine starts a new
// one (engine.ts), so a client's state only ever moves forward: starting -> ready -> gone.
import { Worker } from 'node:worker_threads';
import { errors } from '../../errors.ts';
import type { Batch, FromWorker, ToWorker, WorkerInit } from './protocol.ts';

export interface WorkerResult {
  readonly logits: Float32Array;
  readonly probabilities: Float32Array;
  /** Time inside the worker: writing the input, then session.run(). */
  readonly computeMs: number;
  /** Of which writing the input (normalizing crops, copying tensors). */
  readonly inputMs: number;
  /** From posting the batch to reading its result here: computeMs plus the messages' way. */
  readonly roundTripMs: number;
}

export interface WorkerExit {
  readonly exitCode: number | null;
  readonly message: string;
}

interface PendingRun {
  readonly id: number;
  /** performance.now() when the batch was posted. */
  readonly sentAt: number;
  readonly resolve: (result: WorkerResult) => void;
  readonly reject: (error: unknown) => void;
}

// How long close() lets the worker release its session before terminating it.
const CLOSE_TIMEOUT_MS = 5_000;

/** worker.ts beside this file; worker.js once built. */
function defaultWorkerModule(): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./worker${ext}`, import.meta.url);
}

// Under tsx (tests, the tsx scripts) the worker is .ts; a .ts file cannot be given to `new Worker`
// directly, so an eval'd bootstrap registers tsx's loader in the thread first.
function spawn(init: WorkerInit, url: URL): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData: init });
  const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}

export class WorkerClient {
  readonly #worker: Worker;
  readonly #onUnexpectedExit: (exit: WorkerExit) => void;
  #state: 'starting' | 'ready' | 'closing' | 'gone' = 'starting';
  #pending: PendingRun | undefined;
  #nextId = 1;
  #lastError: Error | undefined;
  #startup!: { resolve: (warmupMs: number) => void; reject: (error: Error) => void };
  readonly #started: Promise<number>;
  readonly #exited: Promise<void>;

  /**
   * Spawns a worker running `module` (default: worker.ts/.js beside this file) and resolves once
   * its session is loaded and warm; rejects if it cannot start.
   */
  static async start(
    init: WorkerInit,
    module: URL | undefined,
    onUnexpectedExit: (exit: WorkerExit) => void,
  ): Promise<{ client: WorkerClient; warmupMs: number }> {
    const client = new WorkerClient(init, module ?? defaultWorkerModule(), onUnexpectedExit);
    const warmupMs = await client.#started;
    return { client, warmupMs };
  }

  private constructor(init: WorkerInit, module: URL, onUnexpectedExit: (exit: WorkerExit) => void) {
    this.#onUnexpectedExit = onUnexpectedExit;
    this.#started = new Promise((resolve, reject) => (this.#startup = { resolve, reject }));
    this.#worker = spawn(init, module);
    this.#worker.on('message', (message: FromWorker) => this.#onMessage(message));
    this.#worker.on('error', (error) => (this.#lastError = error));
    this.#exited = new Promise((resolve) => this.#worker.once('exit', (code) => resolve(this.#onExit(code))));
  }

  get threadId(): number {
    return this.#worker.threadId;
  }

  /** Runs one batch staged in the shared buffers, which must not change until it settles. */
  run(batch: Batch): Promise<WorkerResult> {
    if (this.#state !== 'ready')
      return Promise.reject(new errors.WORKER_FAILED({ cause: new Error(`worker is ${this.#state}`) }));
    if (this.#pending) return Promise.reject(new Error('WorkerClient.run: a batch is already running'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending = { id, sentAt: performance.now(), resolve, reject };
      this.#post({ type: 'run', id, ...batch });
    });
  }

  /** Ends the worker gracefully (after the running batch, if any); terminates it if it takes too long. */
  async close(): Promise<void> {
    if (this.#state === 'gone') return;
    this.#state = 'closing';
    this.#post({ type: 'close' });
    const timer = setTimeout(() => void this.#worker.terminate(), CLOSE_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }

  #post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.#worker.postMessage(message, transfer);
  }

  #onMessage(message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        this.#state = 'ready';
        this.#startup.resolve(message.warmupMs);
        return;
      case 'initFailed':
        this.#lastError = new Error(message.message);
        return;
      case 'result':
      case 'runFailed':
        this.#settle(message);
    }
  }

  #settle(message: Extract<FromWorker, { type: 'result' | 'runFailed' }>): void {
    const pending = this.#pending;
    if (pending?.id !== message.id) return;
    this.#pending = undefined;
    if (message.type === 'result') {
      pending.resolve({
        logits: message.logits,
        probabilities: message.probabilities,
        computeMs: message.computeMs,
        inputMs: message.inputMs,
        roundTripMs: performance.now() - pending.sentAt,
      });
    } else {
      pending.reject(new errors.WORKER_FAILED({ cause: new Error(message.message) }));
    }
  }

  #onExit(exitCode: number): void {
    const previous = this.#state;
    this.#state = 'gone';
    const message = this.#lastError?.message ?? `worker thread exited with code ${exitCode}`;
    if (previous === 'starting') {
      this.#startup.reject(new Error(`The inference worker could not start: ${message}`, { cause: this.#lastError }));
      return;
    }
    // Tell the engine first (it stops dispatching), then fail the batch the worker held.
    if (previous === 'ready') this.#onUnexpectedExit({ exitCode, message });
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(new errors.WORKER_FAILED({ cause: new Error(message) }));
  }
}
