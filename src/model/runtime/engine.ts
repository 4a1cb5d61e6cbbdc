// The inference engine: the dynamic batcher (batcher.ts) feeding the model's instances, each a
// worker thread that owns an onnxruntime session (instance.ts, worker.ts via worker-client.ts);
// a batch runs on whichever instance is idle. One promise per image. An image comes as
// a ready tensor (V2 clients send those) or as its 8-bit RGB crop (uploaded images, a quarter of
// the bytes), staged in buffers shared with the worker (staging.ts). The worker normalizes each
// crop straight into the model's input; the outputs come back transferred, sliced per image.
import { errors, type ServiceError } from '../../errors.ts';
import type { ModelManifest } from '../manifest.ts';
import { Batcher, serviceError, type SubmitOptions } from './batcher.ts';
import type { ComputeGate } from './compute-gate.ts';
import { loadManifest, modelIo, type ModelIo } from './load-manifest.ts';
import { silentLogger, type EngineLogger } from './logger.ts';
import { SELF_CHECK_TOLERANCE } from '../self-check.ts';
import { ModelInstance } from './instance.ts';
import type { SelfCheck, WorkerInit } from './protocol.ts';
import { chooseExecutionProvider, type ExecutionProvider, type ExecutionProviderRequest } from './providers.ts';
import { sessionOptionsFor } from './session-options.ts';
import { pixelLengthOf, StagingBuffers, type StagedImage } from './staging.ts';
import { EngineStats } from './stats.ts';
import { assertInteger, assertOneOf } from './validate.ts';
import type { WorkerExit } from './worker-client.ts';

export interface EngineOptions {
  readonly modelPath: string;
  readonly executionProvider: ExecutionProviderRequest;
  readonly cudaDeviceId?: number;
  readonly intraOpThreads: number;
  /**
   * Sessions of the model, each on a worker thread of its own with `intraOpThreads` threads, that
   * compute batches at the same time (Triton's instance_group count); 1 unless given.
   */
  readonly instances?: number;
  /** onnxruntime's intra-op threads spin-wait after each run (true) or sleep at once (false). */
  readonly allowSpinning: boolean;
  readonly maxBatchSize: number;
  readonly maxBatchDelayMs: number;
  readonly maxQueue: number;
  readonly defaultDeadlineMs: number;
  /** Shared with other engines on the same cores: one batch computes at a time across them. */
  readonly computeGate?: ComputeGate;
  readonly logger?: EngineLogger;
  /**
   * The worker thread's entry module: worker.ts (or .js) beside this file unless given. Another
   * module must speak the same protocol, e.g. by importing worker.ts after its own setup.
   */
  readonly workerModule?: URL;
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
  /** A warm worker (of any instance) is available and the engine is not closing. */
  readonly ready: boolean;
  readonly queueDepth: number;
  readonly stats: EngineStats;
  /** Classifies one preprocessed image (CHW float32, e.g. 3*224*224 values). */
  infer(input: Float32Array, options?: InferOptions): Promise<InferResult>;
  /**
   * Classifies one image given as its centre crop in 8-bit RGB (HWC, e.g. 224*224*3 bytes); the
   * worker normalizes it with the manifest's mean and std, as preprocessImage would have.
   */
  inferPixels(pixels: Uint8Array, options?: InferOptions): Promise<InferResult>;
  /** Seconds a rejected client should wait, estimated from the backlog and recent throughput. */
  retryAfterSeconds(): number;
  /** Stops intake (SHUTTING_DOWN), finishes queued and running work, ends the workers. */
  close(): Promise<void>;
}

export async function createEngine(options: EngineOptions): Promise<Engine> {
  assertOneOf('executionProvider', options.executionProvider, ['cpu', 'cuda', 'auto'] as const);
  assertInteger('intraOpThreads', options.intraOpThreads, 1);
  assertInteger('instances', options.instances ?? 1, 1);
  if (typeof options.allowSpinning !== 'boolean') {
    throw new TypeError(
      `Expected \`allowSpinning\` to be a boolean, got \`${String(options.allowSpinning)}\` (${typeof options.allowSpinning})`,
    );
  }
  const { workerModule } = options;
  if (workerModule !== undefined && !(workerModule instanceof URL && workerModule.protocol === 'file:')) {
    throw new TypeError(`Expected \`workerModule\` to be a file: URL, got \`${String(workerModule)}\``);
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
  readonly #batcher: Batcher<StagedImage, InferResult>;
  readonly #logger: EngineLogger;
  readonly #instances: readonly ModelInstance[];
  #ready = false;
  #closing: Promise<void> | undefined;
  readonly #staging: StagingBuffers;
  readonly #gate: ComputeGate | undefined;

  constructor(options: EngineOptions, manifest: ModelManifest, provider: ExecutionProvider, logger: EngineLogger) {
    this.manifest = manifest;
    this.provider = provider;
    this.#logger = logger;
    this.#io = modelIo(manifest);
    const instances = options.instances ?? 1;
    this.#staging = new StagingBuffers({
      maxBatchSize: options.maxBatchSize,
      maxQueue: options.maxQueue,
      imageLength: this.#io.imageLength,
      pixelLength: pixelLengthOf(this.#io.imageShape, manifest.preprocess.crop),
      instances,
    });
    this.#gate = options.computeGate;
    this.#batcher = new Batcher({
      maxBatchSize: options.maxBatchSize,
      maxDelayMs: options.maxBatchDelayMs,
      maxQueue: options.maxQueue,
      defaultDeadlineMs: options.defaultDeadlineMs,
      concurrency: instances,
      runner: (inputs) => this.#runBatch(inputs),
      stats: this.stats,
    });
    const init: Omit<WorkerInit, 'staging'> = {
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
      preprocess: manifest.preprocess,
    };
    const events = {
      down: (instance: ModelInstance, exit: WorkerExit) => this.#onDown(instance, exit),
      up: () => this.#onUp(),
      restartFailed: () => this.#onRestartFailed(),
    };
    this.#instances = this.#staging.buffers.map(
      (staging, index) =>
        new ModelInstance({
          index,
          init: { ...init, staging },
          workerModule: options.workerModule,
          events,
          logger,
          logFields: { provider: provider.name },
        }),
    );
    if (init.selfCheck === undefined)
      logger.warn({ model: manifest.name }, 'the manifest has no reference outputs: startup self-check skipped');
  }

  get ready(): boolean {
    return this.#ready;
  }

  get queueDepth(): number {
    return this.#batcher.queueDepth;
  }

  /** Starts every instance; if one cannot start, ends the others and rejects. */
  async start(): Promise<void> {
    const started = await Promise.allSettled(this.#instances.map((instance) => instance.start()));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure !== undefined) {
      await Promise.all(this.#instances.map((instance) => instance.close()));
      throw failure.reason;
    }
    this.#setReady(true);
  }

  infer(input: Float32Array, options?: InferOptions): Promise<InferResult> {
    const expected = this.#io.imageLength;
    if (!(input instanceof Float32Array) || input.length !== expected) {
      const shape = this.#io.imageShape.join(', ');
      return this.#invalid(
        `expected a Float32Array of ${expected} values [${shape}], got ${describe(input, Float32Array)}`,
      );
    }
    return this.#submit({ tensor: input }, options);
  }

  inferPixels(pixels: Uint8Array, options?: InferOptions): Promise<InferResult> {
    const expected = this.#staging.pixelLength;
    if (expected === 0) {
      return this.#invalid(`the model's input [${this.#io.imageShape.join(', ')}] is not a square RGB crop`);
    }
    if (!(pixels instanceof Uint8Array) || pixels.length !== expected) {
      const side = this.#io.imageShape[1];
      return this.#invalid(
        `expected a Uint8Array of ${expected} bytes [${side}, ${side}, 3], got ${describe(pixels, Uint8Array)}`,
      );
    }
    // Every queued or running image holds a slot, so one is free unless the queue is full anyway.
    const slot = this.#staging.stagePixels(pixels);
    if (slot === undefined) return this.#refuse('QUEUE_FULL');
    const result = this.#submit({ slot }, options);
    const release = () => this.#staging.release(slot);
    result.then(release, release);
    return result;
  }

  #invalid(message: string): Promise<never> {
    return Promise.reject(new errors.INVALID_TENSOR(message));
  }

  /** Every instance's last restart failed: nothing can compute until one comes back. */
  get #failed(): boolean {
    return this.#instances.every((instance) => instance.failed);
  }

  #submit(input: StagedImage, options: InferOptions | undefined): Promise<InferResult> {
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
    for (const instance of this.#instances) instance.stopRestarting();
    if (this.#failed) this.#batcher.rejectQueued('SHUTTING_DOWN');
    await this.#batcher.close();
    await Promise.all(this.#instances.map((instance) => instance.close()));
  }

  #refuse(code: ServiceError['code']): Promise<never> {
    this.stats.emit('rejection', code);
    return Promise.reject(serviceError(code));
  }

  // The batcher runs no more batches at once than instances are up, so one is idle.
  async #runBatch(inputs: readonly StagedImage[]): Promise<InferResult[]> {
    const instance = this.#instances.find((candidate) => candidate.idle);
    if (instance === undefined) throw new errors.WORKER_FAILED({ cause: new Error('no worker') });
    instance.claim();
    try {
      return await (this.#gate === undefined
        ? this.#compute(instance, inputs)
        : this.#gate.run(() => this.#compute(instance, inputs)));
    } finally {
      instance.release();
    }
  }

  async #compute(instance: ModelInstance, inputs: readonly StagedImage[]): Promise<InferResult[]> {
    const { classes } = this.#io;
    // The instance is claimed for this batch, so its worker is not reading its staged tensors now.
    const { logits, probabilities, computeMs, inputMs, roundTripMs } = await instance.run(
      this.#staging.batch(inputs, instance.index),
    );
    this.stats.emit('worker', {
      size: inputs.length,
      inputSeconds: inputMs / 1000,
      transferSeconds: Math.max(0, roundTripMs - computeMs) / 1000,
    });
    return inputs.map((_, i) => ({
      logits: logits.subarray(i * classes, (i + 1) * classes),
      probabilities: probabilities.subarray(i * classes, (i + 1) * classes),
    }));
  }

  /** Instances with a warm worker. */
  get #up(): number {
    return this.#instances.filter((instance) => instance.up).length;
  }

  // Called synchronously from the worker's exit event, before its batch is failed: lowering the
  // batcher's concurrency (pausing it when no instance is left) keeps it from handing the next
  // batch to a dead thread.
  #onDown(instance: ModelInstance, exit: WorkerExit): void {
    this.#fitBatcher();
    this.stats.emit('workerRestart', exit);
    this.#logger.error(
      { instance: instance.index, exitCode: exit.exitCode, err: exit.message, queued: this.#batcher.queueDepth },
      'inference worker died; restarting',
    );
  }

  #onUp(): void {
    this.#fitBatcher();
  }

  #onRestartFailed(): void {
    if (this.#failed) this.#batcher.rejectQueued(this.#closing ? 'SHUTTING_DOWN' : 'NOT_READY');
  }

  /** As many batches at once as instances are up; none (paused) while none is. */
  #fitBatcher(): void {
    const up = this.#up;
    this.#setReady(up > 0);
    if (up === 0) {
      this.#batcher.pause();
      return;
    }
    this.#batcher.setConcurrency(up);
    this.#batcher.resume();
  }

  #setReady(ready: boolean): void {
    const next = ready && this.#closing === undefined;
    if (next === this.#ready) return;
    this.#ready = next;
    this.stats.emit('readiness', next);
  }
}

/** "N values" for an array of the expected type, else what was given instead. */
function describe(value: unknown, expected: Float32ArrayConstructor | Uint8ArrayConstructor): string {
  if (value instanceof expected) return `${value.length} values`;
  return String((value as { constructor?: { name?: string } } | null | undefined)?.constructor?.name ?? value);
}
