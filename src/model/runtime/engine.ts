// The inference engine: the dynamic batcher (batcher.ts) feeding one worker thread that owns the
// onnxruntime session (worker.ts via worker-client.ts). One promise per image; a batch's images
// are copied into one Float32Array whose buffer is transferred to the worker, and the outputs come
// back transferred too, sliced per image with subarray (no further copies).
import { errors, type ServiceError } from '../../errors.ts';
import type { ModelManifest } from '../manifest.ts';
import { Batcher, serviceError, type SubmitOptions } from './batcher.ts';
import type { ComputeGate } from './compute-gate.ts';
import { loadManifest, modelIo, type ModelIo } from './load-manifest.ts';
import { silentLogger, type EngineLogger } from './logger.ts';
import { SELF_CHECK_TOLERANCE } from '../self-check.ts';
import type { SelfCheck, WorkerInit } from './protocol.ts';
import { chooseExecutionProvider, type ExecutionProvider, type ExecutionProviderRequest } from './providers.ts';
import { sessionOptionsFor } from './session-options.ts';
import { EngineStats } from './stats.ts';
import { assertInteger, assertOneOf } from './validate.ts';
import { WorkerClient, type WorkerExit } from './worker-client.ts';

export interface EngineOptions {
  readonly modelPath: string;
  readonly executionProvider: ExecutionProviderRequest;
  readonly cudaDeviceId?: number;
  readonly intraOpThreads: number;
  /** onnxruntime's intra-op threads spin-wait after each run (true) or sleep at once (false). */
  readonly allowSpinning: boolean;
  readonly maxBatchSize: number;
  readonly maxBatchDelayMs: number;
  readonly maxQueue: number;
  readonly defaultDeadlineMs: number;
  /** Shared with other engines on the same cores: one batch computes at a time across them. */
  readonly computeGate?: ComputeGate;
  readonly logger?: EngineLogger;
}

export type InferOptions = SubmitOptions;

export interface InferResult {
  readonly logits: Float32Array;
  readonly probabilities: Float32Array;
}

export interface Engine {
  readonly manifest: ModelManifest;
  /** The execution provider in use (after `auto` was resolved). */
  readonly provider: ExecutionProvider;
  /** A warm worker is available and the engine is not closing. */
  readonly ready: boolean;
  readonly queueDepth: number;
  readonly stats: EngineStats;
  /** Classifies one preprocessed image (CHW float32, e.g. 3*224*224 values). */
  infer(input: Float32Array, options?: InferOptions): Promise<InferResult>;
  /** Seconds a rejected client should wait, estimated from the backlog and recent throughput. */
  retryAfterSeconds(): number;
  /** Stops intake (SHUTTING_DOWN), finishes queued and running work, ends the worker. */
  close(): Promise<void>;
}

/** Test-only handles on the worker of an engine made by createEngine. */
export interface EngineTestHooks {
  exitWorkerDuringNextRun(exitCode: number): void;
  terminateWorker(): Promise<void>;
}
const engineTestHooks = Symbol('engineTestHooks');

export function testHooksOf(engine: Engine): EngineTestHooks {
  const hooks = (engine as Partial<Record<typeof engineTestHooks, EngineTestHooks>>)[engineTestHooks];
  if (hooks === undefined) throw new TypeError('testHooksOf: not an engine made by createEngine');
  return hooks;
}

// Restarts after a failed restart back off from 250 ms to 30 s.
const RESTART_BACKOFF_MS = { first: 250, max: 30_000 } as const;

export async function createEngine(options: EngineOptions): Promise<Engine> {
  assertOneOf('executionProvider', options.executionProvider, ['cpu', 'cuda', 'auto'] as const);
  assertInteger('intraOpThreads', options.intraOpThreads, 1);
  if (typeof options.allowSpinning !== 'boolean') {
    throw new TypeError(
      `Expected \`allowSpinning\` to be a boolean, got \`${String(options.allowSpinning)}\` (${typeof options.allowSpinning})`,
    );
  }
  const logger = options.logger ?? silentLogger;
  const provider = chooseExecutionProvider({
    requested: options.executionProvider,
    cudaDeviceId: options.cudaDeviceId,
    logger,
  });
  const manifest = await loadManifest(options.modelPath);
  const engine = new InferenceEngine(options, manifest, provider, logger);
  await engine.start();
  return engine;
}

/** What warm-up recomputes: the reference logits of manifests written since self-checks exist. */
function selfCheckOf(manifest: ModelManifest): SelfCheck | undefined {
  if (manifest.reference === undefined) return undefined;
  const { precision } = manifest;
  return {
    model: manifest.name,
    precision,
    logits: manifest.reference.logits,
    tolerance: SELF_CHECK_TOLERANCE[precision],
  };
}

class InferenceEngine implements Engine {
  readonly manifest: ModelManifest;
  readonly provider: ExecutionProvider;
  readonly stats = new EngineStats();
  readonly #io: ModelIo;
  readonly #init: WorkerInit;
  readonly #batcher: Batcher<Float32Array, InferResult>;
  readonly #logger: EngineLogger;
  #worker: WorkerClient | undefined;
  #ready = false;
  #failed = false;
  #closing: Promise<void> | undefined;
  #restarting: Promise<void> | undefined;
  #restartAttempt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  /** Room for the largest batch, back from the worker after each run and filled again. */
  #spare: Float32Array | undefined;
  readonly #batchCapacity: number;
  readonly #gate: ComputeGate | undefined;

  constructor(options: EngineOptions, manifest: ModelManifest, provider: ExecutionProvider, logger: EngineLogger) {
    this.manifest = manifest;
    this.provider = provider;
    this.#logger = logger;
    this.#io = modelIo(manifest);
    this.#batchCapacity = options.maxBatchSize * this.#io.imageLength;
    this.#gate = options.computeGate;
    this.#batcher = new Batcher({
      maxBatchSize: options.maxBatchSize,
      maxDelayMs: options.maxBatchDelayMs,
      maxQueue: options.maxQueue,
      defaultDeadlineMs: options.defaultDeadlineMs,
      runner: (inputs) => this.#runBatch(inputs),
      stats: this.stats,
    });
    this.#init = {
      modelPath: options.modelPath,
      sessionOptions: sessionOptionsFor({
        provider,
        intraOpThreads: options.intraOpThreads,
        allowSpinning: options.allowSpinning,
      }),
      inputName: this.#io.input.name,
      logitsName: this.#io.logits.name,
      probabilitiesName: this.#io.probabilities.name,
      imageShape: this.#io.imageShape,
      classes: this.#io.classes,
      warmupBatchSizes: Array.from({ length: options.maxBatchSize }, (_, i) => i + 1),
      selfCheck: selfCheckOf(manifest),
    };
    if (this.#init.selfCheck === undefined)
      logger.warn({ model: manifest.name }, 'the manifest has no reference outputs: startup self-check skipped');
  }

  get ready(): boolean {
    return this.#ready;
  }

  get queueDepth(): number {
    return this.#batcher.queueDepth;
  }

  readonly [engineTestHooks]: EngineTestHooks = {
    exitWorkerDuringNextRun: (exitCode) => this.#worker?.exitDuringNextRun(exitCode),
    terminateWorker: async () => this.#worker?.terminate(),
  };

  async start(): Promise<void> {
    const { client, warmupMs } = await WorkerClient.start(this.#init, (exit) => this.#onWorkerExit(exit));
    this.#worker = client;
    this.#logger.info(
      { provider: this.provider.name, warmupMs: Math.round(warmupMs), batchSizes: this.#init.warmupBatchSizes.length },
      'inference worker ready',
    );
    this.#setReady(true);
  }

  infer(input: Float32Array, options?: InferOptions): Promise<InferResult> {
    const expected = this.#io.imageLength;
    if (!(input instanceof Float32Array) || input.length !== expected) {
      const got =
        input instanceof Float32Array
          ? `${input.length} values`
          : String((input as unknown)?.constructor?.name ?? input);
      return Promise.reject(
        new errors.INVALID_TENSOR(
          `expected a Float32Array of ${expected} values [${this.#io.imageShape.join(', ')}], got ${got}`,
        ),
      );
    }
    if (this.#failed && !this.#closing) return this.#refuse('NOT_READY');
    return this.#batcher.submit(input, options);
  }

  retryAfterSeconds(): number {
    return this.#batcher.retryAfterSeconds();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#setReady(false);
    clearTimeout(this.#restartTimer);
    if (this.#failed) this.#batcher.rejectQueued('SHUTTING_DOWN');
    await this.#batcher.close();
    await this.#restarting;
    await this.#worker?.close();
    this.#worker = undefined;
  }

  #refuse(code: ServiceError['code']): Promise<never> {
    this.stats.emit('rejection', code);
    return Promise.reject(serviceError(code));
  }

  #runBatch(inputs: readonly Float32Array[]): Promise<InferResult[]> {
    return this.#gate === undefined ? this.#compute(inputs) : this.#gate.run(() => this.#compute(inputs));
  }

  async #compute(inputs: readonly Float32Array[]): Promise<InferResult[]> {
    const worker = this.#worker;
    if (worker === undefined) throw new errors.WORKER_FAILED({ cause: new Error('no worker') });
    const { imageLength, classes } = this.#io;
    // One buffer goes back and forth (transferred both ways), so a batch allocates nothing here:
    // 600 KB per image of fresh ArrayBuffers per batch drove most of the server's GC work.
    // A batch lost with a dead worker leaves no spare; the next one allocates a new buffer.
    const batch = (this.#spare ?? new Float32Array(this.#batchCapacity)).subarray(0, inputs.length * imageLength);
    this.#spare = undefined;
    inputs.forEach((input, i) => batch.set(input, i * imageLength));
    const { logits, probabilities, input } = await worker.run(batch, inputs.length);
    this.#spare = new Float32Array(input.buffer);
    return inputs.map((_, i) => ({
      logits: logits.subarray(i * classes, (i + 1) * classes),
      probabilities: probabilities.subarray(i * classes, (i + 1) * classes),
    }));
  }

  // Called synchronously from the worker's exit event, before its batch is failed: pausing here
  // keeps the batcher from handing the next batch to a dead thread.
  #onWorkerExit(exit: WorkerExit): void {
    this.#worker = undefined;
    this.#batcher.pause();
    this.#setReady(false);
    this.stats.emit('workerRestart', exit);
    this.#logger.error(
      { exitCode: exit.exitCode, err: exit.message, queued: this.#batcher.queueDepth },
      'inference worker died; restarting',
    );
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
      this.#batcher.resume();
    } catch (error) {
      this.#failed = true;
      this.#batcher.rejectQueued(this.#closing ? 'SHUTTING_DOWN' : 'NOT_READY');
      if (this.#closing) return;
      const delayMs = Math.min(RESTART_BACKOFF_MS.max, RESTART_BACKOFF_MS.first * 2 ** this.#restartAttempt++);
      this.#logger.error({ err: (error as Error).message, retryInMs: delayMs }, 'inference worker restart failed');
      this.#restartTimer = setTimeout(() => this.#restart(), delayMs).unref();
    }
  }

  #setReady(ready: boolean): void {
    const next = ready && this.#closing === undefined;
    if (next === this.#ready) return;
    this.#ready = next;
    this.stats.emit('readiness', next);
  }
}
