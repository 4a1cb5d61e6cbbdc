// One model version that classifies: its manifest, its engine (worker thread, session, batcher),
// the admission control of its images, its labelled metrics, and its state.
// Every transport (POST /predict, V2 REST, gRPC) asks the registry for a Classifier and calls
// classifyImages or inferTensors; none of them touches the engine. The registry retires a
// version by retire(): it stops being found, the requests that hold it finish, its engine drains
// its queue, and its series leave /metrics.
import { performance } from 'node:perf_hooks';
import { errors, isServiceError, type ServiceError } from '../../errors.ts';
import type { ModelManifest } from '../../model/manifest.ts';
import type { Engine, InferResult } from '../../model/runtime/engine.ts';
import type { EngineLogger } from '../../model/runtime/logger.ts';
import { preprocessPixels } from '../../preprocess/index.ts';
import { observeEngine, type ModelMetrics } from './model-metrics.ts';
import { Admission, admissionLimit } from './admission.ts';
import { runAll } from './run-all.ts';
import type { ClassifierSpec, ServerSettings } from './spec.ts';

/** Triton's model states, as the repository index reports them. */
export type ModelState = 'LOADING' | 'READY' | 'UNAVAILABLE' | 'UNLOADING';

/** What the repository index says about one model version. */
export interface VersionStatus {
  readonly name: string;
  readonly version: number;
  readonly state: ModelState;
  readonly reason: string;
}

export interface NamedImage {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface ImageResult extends InferResult {
  readonly name: string;
}

/** How one request's work runs, whatever transport it came by. */
export interface WorkOptions {
  /** How long each image may wait in the queue (ms); DEADLINE_EXCEEDED after it. */
  readonly deadlineMs: number;
  /** Aborted when the client goes away or the caller gives up: queued images leave with CANCELLED. */
  readonly signal?: AbortSignal;
  /** Label of the images-classified counter: which API asked (predict, v2, grpc). */
  readonly api: string;
  /** performance.now() when the request arrived, for the end-to-end histogram. */
  readonly receivedAt?: number;
  /** Told how many images the request carried (also when it fails), for its log line. */
  readonly onImageCount?: (count: number) => void;
}

/** A 503 the client is told when to retry, from the backlog of the model it asked for. */
export type Refusal = ServiceError & { retryAfterSeconds?: number };

export interface ClassifierLogger extends EngineLogger {
  debug(obj: object, msg: string): void;
  child(bindings: object): ClassifierLogger;
}

export interface ClassifierParts {
  readonly spec: ClassifierSpec;
  readonly manifest: ModelManifest;
  readonly server: ServerSettings;
  readonly metrics: ModelMetrics;
  readonly logger: ClassifierLogger;
}

type Phase = 'loading' | 'ready' | 'failed' | 'unloading' | 'closed';

export class Classifier implements VersionStatus {
  readonly name: string;
  readonly version: number;
  readonly manifest: ModelManifest;
  readonly spec: ClassifierSpec;
  /** Images this version holds (preprocessing, queued, computing): new work is refused when full. */
  readonly admission: Admission;
  readonly #parts: ClassifierParts;
  #engine: Engine | null = null;
  #phase: Phase = 'loading';
  #failure = '';
  #active = 0;
  #idleWaiters: (() => void)[] = [];
  #started: Promise<void> = Promise.resolve();
  #retired: Promise<void> | undefined;

  constructor(parts: ClassifierParts) {
    this.#parts = parts;
    this.spec = parts.spec;
    this.name = parts.spec.name;
    this.version = parts.spec.version;
    this.manifest = parts.manifest;
    this.admission = new Admission(admissionLimit({ ...parts.spec.settings, instances: parts.server.modelInstances }));
  }

  /** Starts the engine in the background; `loaded` settles once it is warm or has failed. */
  start(engine: Promise<Engine>): void {
    this.#started = engine.then(
      (started) => this.#attach(started),
      (err: unknown) => this.#fail(err),
    );
  }

  /** Settles (never rejects) once the engine is warm or could not start: see `state`. */
  get loaded(): Promise<void> {
    return this.#started;
  }

  get state(): ModelState {
    if (this.#phase === 'loading') return 'LOADING';
    if (this.#phase === 'unloading') return 'UNLOADING';
    if (this.#phase === 'ready') return this.#engine?.ready ? 'READY' : 'LOADING';
    return 'UNAVAILABLE';
  }

  get reason(): string {
    if (this.#phase === 'failed') return this.#failure;
    if (this.#phase === 'closed') return 'unloaded';
    if (this.#phase === 'ready' && this.#engine?.ready === false) return 'the inference worker is restarting';
    return '';
  }

  /** Warm, taking work, not being retired. */
  get ready(): boolean {
    return this.#phase === 'ready' && this.#engine?.ready === true;
  }

  /** The engine once started (tests and benchmarks use it to ask the model directly). */
  get engine(): Engine | null {
    return this.#engine;
  }

  get labels(): readonly string[] {
    return this.manifest.labels;
  }

  /** Whether this version holds as many images as it admits, or its engine's queue is full. */
  get full(): boolean {
    return this.admission.full || (this.#engine?.queueDepth ?? 0) >= this.spec.settings.maxQueue;
  }

  retryAfterSeconds(): number {
    return this.#engine?.retryAfterSeconds() ?? 1;
  }

  /** Counts a refusal of work by its code and returns the error to throw (with its Retry-After). */
  refusal(code: 'SHUTTING_DOWN' | 'NOT_READY' | 'QUEUE_FULL'): Refusal {
    this.#parts.metrics.rejection(code);
    return this.#withRetryAfter(errors[code]());
  }

  /** Why this version takes no work, as the error to throw; undefined when it is ready. */
  unavailable(): Refusal | undefined {
    if (this.ready) return undefined;
    if (this.#phase === 'failed')
      return errors.MODEL_UNAVAILABLE(`${this.name} version ${this.version}`, this.#failure);
    return this.refusal('NOT_READY');
  }

  /** Classifies images as they arrive (multipart parts are preprocessed while later parts are still being received). */
  classifyImages(
    images: AsyncIterable<NamedImage> | Iterable<NamedImage>,
    options: WorkOptions,
  ): Promise<ImageResult[]> {
    return this.#run(images, options, (image, signal) => this.#classifyOne(image, options, signal));
  }

  /** Runs preprocessed rows (CHW float32, the manifest's input shape without the batch) through the model. */
  inferTensors(rows: Iterable<Float32Array>, options: WorkOptions): Promise<InferResult[]> {
    return this.#run(rows, options, (row, signal) => this.#infer({ tensor: row }, options, signal));
  }

  /**
   * Stops taking new work: the requests that hold this version finish (up to `drainTimeoutMs`),
   * the engine drains its queue and stops, and, unless `keepSeries`, its series leave /metrics.
   */
  retire(drainTimeoutMs: number, keepSeries = false): Promise<void> {
    this.#retired ??= this.#retire(drainTimeoutMs, keepSeries);
    return this.#retired;
  }

  async #retire(drainTimeoutMs: number, keepSeries: boolean): Promise<void> {
    const failed = this.#phase === 'failed';
    this.#phase = 'unloading';
    this.admission.closeLine();
    await this.#started;
    await this.#idle(drainTimeoutMs);
    await this.#engine?.close();
    if (!keepSeries) this.#parts.metrics.remove();
    this.#phase = failed ? 'failed' : 'closed';
  }

  async #run<T, R>(
    items: AsyncIterable<T> | Iterable<T>,
    options: WorkOptions,
    work: (item: T, signal: AbortSignal) => Promise<R>,
  ): Promise<R[]> {
    this.#active++;
    try {
      // Work admitted before a worker crash is held by the engine until its new worker is warm;
      // only a version that never loaded, or is being retired, refuses it here.
      if (this.#phase !== 'ready') throw this.unavailable() ?? this.refusal('NOT_READY');
      const results = await runAll(items, work, {
        maxItems: this.#parts.server.maxImagesPerRequest,
        signal: options.signal,
        onCount: options.onImageCount,
      });
      this.#parts.metrics.imagesClassified(options.api, results.length);
      return results;
    } catch (err) {
      throw this.#withRetryAfter(err);
    } finally {
      this.#active--;
      if (this.#active === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  async #classifyOne(image: NamedImage, options: WorkOptions, signal: AbortSignal): Promise<ImageResult> {
    const { server, metrics } = this.#parts;
    // A request admitted before its body was read may still carry more images than there are places left.
    if (!this.admission.tryAdmit()) throw this.refusal('QUEUE_FULL');
    try {
      const started = performance.now();
      // The 8-bit crop: the engine's worker normalizes it into its slot of the batch.
      const pixels = await preprocessPixels(image.bytes, {
        preset: this.manifest.preprocess,
        maxImageBytes: server.maxImageBytes,
        maxImagePixels: server.maxImagePixels,
      });
      metrics.preprocess.observe((performance.now() - started) / 1000);
      signal.throwIfAborted();
      return { name: image.name, ...(await this.#infer({ pixels }, options, signal)) };
    } finally {
      this.admission.release();
    }
  }

  async #infer(
    input: { readonly tensor: Float32Array } | { readonly pixels: Uint8Array },
    options: WorkOptions,
    signal: AbortSignal,
  ): Promise<InferResult> {
    const engine = this.#engine;
    if (engine === null) throw this.refusal('NOT_READY');
    const queue = { deadlineMs: options.deadlineMs, signal };
    const output = await ('pixels' in input
      ? engine.inferPixels(input.pixels, queue)
      : engine.infer(input.tensor, queue));
    if (options.receivedAt !== undefined)
      this.#parts.metrics.endToEnd.observe((performance.now() - options.receivedAt) / 1000);
    return output;
  }

  #withRetryAfter<T>(err: T): T {
    if (isServiceError(err) && err.statusCode === 503 && (err as Refusal).retryAfterSeconds === undefined)
      (err as Refusal).retryAfterSeconds = this.retryAfterSeconds();
    return err;
  }

  #idle(timeoutMs: number): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs).unref();
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #attach(engine: Engine): void {
    this.#engine = engine;
    if (this.#phase === 'loading') this.#phase = 'ready';
    const { metrics, logger } = this.#parts;
    metrics.info(this.manifest.weights.trained ? 'trained' : 'seeded', this.manifest.labels.length);
    observeEngine(metrics, engine.stats);
    // Room in the queue wakes as many waiting requests: tensor rows free no admission places.
    const { maxQueue } = this.spec.settings;
    engine.stats.on('queueDepth', (depth) => this.admission.wake(maxQueue - depth));
    // Exposed from the start (0), so a dashboard's rate() has a series before the first restart.
    metrics.workerRestarts.inc(0);
    engine.stats.on('batch', ({ size, computeSeconds, ok }) =>
      logger.debug({ batchSize: size, computeMs: Math.round(computeSeconds * 1000), ok }, 'batch done'),
    );
    engine.stats.on('readiness', (ready) => logger.info({ ready }, 'engine readiness changed'));
  }

  #fail(err: unknown): void {
    // Reasons go to clients (the repository index): the model is named as in the repository, never by its absolute path.
    const message = err instanceof Error ? err.message : String(err);
    this.#failure = message.split(this.spec.modelPath).join(this.spec.label);
    if (this.#phase === 'loading') this.#phase = 'failed';
    this.#parts.logger.error({ err, model: this.spec.label }, 'the model could not be loaded');
  }
}
