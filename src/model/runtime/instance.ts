// One instance of an engine's model: a worker thread with its own onnxruntime session (Triton's
// instance_group count is how many an engine has). It restarts its worker when the thread dies,
// backing off after failed restarts, and tells the engine when it goes down and comes back up.
// The engine claims an idle instance for each batch it runs (engine.ts).
import { errors } from '../../errors.ts';
import type { EngineLogger } from './logger.ts';
import type { Batch, WorkerInit } from './protocol.ts';
import { WorkerClient, type WorkerExit, type WorkerResult } from './worker-client.ts';

// Restarts after a failed restart back off from 250 ms to 30 s.
const RESTART_BACKOFF_MS = { first: 250, max: 30_000 } as const;

export interface InstanceEvents {
  /** The worker died (synchronously from its exit event, before its batch is failed); a restart begins. */
  readonly down: (instance: ModelInstance, exit: WorkerExit) => void;
  /** A restarted worker is warm. */
  readonly up: (instance: ModelInstance) => void;
  /** A restart failed; another is scheduled unless the instance is stopping. */
  readonly restartFailed: (instance: ModelInstance) => void;
}

export class ModelInstance {
  /** Position among the engine's instances; its staging buffer has the same index. */
  readonly index: number;
  readonly #init: WorkerInit;
  readonly #workerModule: URL | undefined;
  readonly #events: InstanceEvents;
  readonly #logger: EngineLogger;
  readonly #logFields: object;
  #worker: WorkerClient | undefined;
  #claimed = false;
  #failed = false;
  #stopping = false;
  #restarting: Promise<void> | undefined;
  #restartAttempt = 0;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(parts: {
    index: number;
    init: WorkerInit;
    workerModule: URL | undefined;
    events: InstanceEvents;
    logger: EngineLogger;
    /** Added to the "ready" log line, e.g. the provider. */
    logFields?: object;
  }) {
    this.index = parts.index;
    this.#init = parts.init;
    this.#workerModule = parts.workerModule;
    this.#events = parts.events;
    this.#logger = parts.logger;
    this.#logFields = parts.logFields ?? {};
  }

  /** A warm worker is running. */
  get up(): boolean {
    return this.#worker !== undefined;
  }

  /** Up and not running a batch. */
  get idle(): boolean {
    return this.up && !this.#claimed;
  }

  /** The last restart failed and another is pending. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Spawns the worker and resolves once it is warm; rejects if it cannot start. */
  async start(): Promise<void> {
    const { client, warmupMs } = await WorkerClient.start(this.#init, this.#workerModule, (exit) => this.#onExit(exit));
    this.#worker = client;
    this.#logger.info(
      {
        ...this.#logFields,
        instance: this.index,
        warmupMs: Math.round(warmupMs),
        batchSizes: this.#init.warmupBatchSizes.length,
      },
      'inference worker ready',
    );
  }

  /** Takes the idle instance for one batch; release() gives it back. */
  claim(): void {
    if (!this.idle) throw new Error(`instance ${this.index} is not idle`);
    this.#claimed = true;
  }

  release(): void {
    this.#claimed = false;
  }

  /** Runs a batch staged in this instance's buffers (claimed first). */
  run(batch: Batch): Promise<WorkerResult> {
    const worker = this.#worker;
    if (worker === undefined) return Promise.reject(new errors.WORKER_FAILED({ cause: new Error('no worker') }));
    return worker.run(batch);
  }

  /** No further restarts are scheduled (a restart already running still finishes). */
  stopRestarting(): void {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
  }

  /** Waits for a running restart, then ends the worker after its batch. */
  async close(): Promise<void> {
    this.stopRestarting();
    await this.#restarting;
    await this.#worker?.close();
    this.#worker = undefined;
  }

  #onExit(exit: WorkerExit): void {
    this.#worker = undefined;
    this.#events.down(this, exit);
    this.#restart();
  }

  #restart(): void {
    this.#restarting = this.#tryRestart().finally(() => (this.#restarting = undefined));
  }

  async #tryRestart(): Promise<void> {
    try {
      await this.start();
      this.#failed = false;
      this.#restartAttempt = 0;
      this.#events.up(this);
    } catch (error) {
      this.#failed = true;
      this.#events.restartFailed(this);
      if (this.#stopping) return;
      const delayMs = Math.min(RESTART_BACKOFF_MS.max, RESTART_BACKOFF_MS.first * 2 ** this.#restartAttempt++);
      this.#logger.error(
        { instance: this.index, err: (error as Error).message, retryInMs: delayMs },
        'inference worker restart failed',
      );
      this.#restartTimer = setTimeout(() => this.#restart(), delayMs).unref();
    }
  }
}
