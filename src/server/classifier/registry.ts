// The model versions the service holds, found by name and version. Routes of every transport
// ask it (resolve, acceptWork); the repository controller changes it (put, replace, retire). A
// request without a version gets the highest READY version; without a name, DEFAULT_MODEL or the
// only model. A version leaves the registry before it is retired, so no new request finds it
// while the requests that hold it finish.
import { performance } from 'node:perf_hooks';
import { errors } from '../../errors.ts';
import type { Classifier, ModelState, VersionStatus } from './classifier.ts';
import { parseVersion } from './model-name.ts';

/** Set when the process starts draining: readiness turns false and new work gets 503 SHUTTING_DOWN. */
export interface Lifecycle {
  shuttingDown: boolean;
}

/** A version that could not be made into a classifier (a missing file, a manifest that does not parse). */
export class UnavailableVersion implements VersionStatus {
  readonly state = 'UNAVAILABLE';
  constructor(
    readonly name: string,
    readonly version: number,
    readonly reason: string,
  ) {}
}

export type VersionEntry = Classifier | UnavailableVersion;

/** One row of the V2 repository index (Triton's RepositoryIndexResponse.ModelIndex). */
export interface IndexEntry {
  readonly name: string;
  readonly version?: string;
  readonly state: ModelState;
  readonly reason: string;
}

interface ModelRecord {
  readonly versions: Map<number, VersionEntry>;
  /** Why it has no version (unloaded, no version folders, config.json is invalid). */
  note: string;
  /** Unloaded through the API: it no longer counts for the server's readiness. */
  unloaded: boolean;
}

export interface RegistryOptions {
  readonly lifecycle: Lifecycle;
  readonly defaultModel?: string | undefined;
  /** How long a retired version waits for the requests that hold it before its engine stops. */
  readonly drainTimeoutMs: number;
  /** How long work that finds its model full waits for room before QUEUE_FULL, at least (0: refuse at once). */
  readonly fullWaitMs: number;
  /** Refusals per second the waits are spread to: each request already waiting adds 1/this s to a new one's wait. */
  readonly maxRefusalsPerSecond: number;
  /** How long a request waits for room at most (REQUEST_TIMEOUT_MS). */
  readonly maxFullWaitMs: number;
}

const isClassifier = (entry: VersionEntry | undefined): entry is Classifier =>
  entry !== undefined && !(entry instanceof UnavailableVersion);

/** A client's name in an error message: quoted, and short (a query string may be long). */
const quoted = (text: string): string => JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}...` : text);

export class ModelRegistry {
  readonly #options: RegistryOptions;
  readonly #models = new Map<string, ModelRecord>();
  readonly #retiring = new Set<Classifier>();
  /** The models that were serving once startup finished; undefined before. */
  #startModels: ReadonlySet<string> | undefined;
  readonly #started: Promise<void>;
  #markStarted: () => void = () => undefined;
  /** Requests waiting in line for room, over every model and transport. */
  #waiting = 0;

  constructor(options: RegistryOptions) {
    this.#options = options;
    this.#started = new Promise((resolve) => (this.#markStarted = resolve));
  }

  /** Resolves once every model loaded at start is warm or has failed (see index() for which). */
  whenStarted(): Promise<void> {
    return this.#started;
  }

  get shuttingDown(): boolean {
    return this.#options.lifecycle.shuttingDown;
  }

  /** The classifier for a model and optional version; MODEL_NOT_FOUND, MODEL_REQUIRED or MODEL_UNAVAILABLE. */
  resolve(name?: string, version?: string): Classifier {
    const model = name ?? this.#defaultModel();
    const record = this.#models.get(model);
    if (record === undefined) throw errors.MODEL_NOT_FOUND(quoted(model));
    if (version !== undefined) {
      const number = parseVersion(version);
      const entry = number === undefined ? undefined : record.versions.get(number);
      if (entry === undefined) throw errors.MODEL_NOT_FOUND(`${quoted(model)} version ${quoted(version)}`);
      if (!isClassifier(entry)) throw errors.MODEL_UNAVAILABLE(`${model} version ${version}`, entry.reason);
      return entry;
    }
    const entries = [...record.versions.values()].sort((a, b) => b.version - a.version);
    const classifiers = entries.filter(isClassifier);
    const chosen = classifiers.find((c) => c.ready) ?? classifiers[0];
    if (chosen !== undefined) return chosen;
    const failed = entries[0];
    if (failed !== undefined) throw errors.MODEL_UNAVAILABLE(model, failed.reason);
    throw errors.MODEL_UNAVAILABLE(model, record.note || 'no version is loaded');
  }

  /**
   * The gate before a request's body is read (onRequest; gRPC before it queues anything): the
   * model exists and is ready, the server is not draining, and the model has room. A request that
   * finds it full waits in line for room (served first come, first served, as images leave) and is
   * refused with QUEUE_FULL when its wait ends: FULL_WAIT_MS, or longer when many wait.
   */
  async acceptWork(name?: string, version?: string, signal?: AbortSignal): Promise<Classifier> {
    // Checked first: once app.close() retires the versions, resolve would say MODEL_UNAVAILABLE,
    // and gRPC calls still arrive then (its listener drains beside the HTTP one).
    if (this.shuttingDown) throw this.#drainRefusal(name, version);
    const classifier = this.resolve(name, version);
    const unavailable = classifier.unavailable();
    if (unavailable) throw unavailable;
    const { admission } = classifier;
    if (!classifier.full) {
      if (admission.waiting === 0) return classifier;
      admission.wake();
    }
    // A line longer than the refusals of one longest wait could not be paced anyway: beyond it a
    // request is refused at once, so a flood of connections holds at most this many requests.
    if (this.#options.fullWaitMs === 0 || this.#waiting >= this.#lineLimit()) throw classifier.refusal('QUEUE_FULL');
    this.#waiting++;
    let admitted: boolean;
    try {
      admitted = await admission.waitForRoom(() => !classifier.full, performance.now() + this.#waitMs(), signal);
    } finally {
      this.#waiting--;
    }
    signal?.throwIfAborted();
    if (this.shuttingDown) throw classifier.refusal('SHUTTING_DOWN');
    const gone = classifier.unavailable();
    if (gone) throw gone;
    if (!admitted) throw classifier.refusal('QUEUE_FULL');
    return classifier;
  }

  /**
   * How long a request that finds its model full waits: clients that retry a 503 at once come
   * straight back, so refusals per second are the waiting requests over the wait. A fixed 250 ms
   * made 256 connections draw about 800 refusals/s, a quarter of 2 cores (docs/performance.md,
   * "Overload"); one interval of 1/MAX_REFUSALS_PER_SECOND per request already waiting keeps them
   * near that rate at any load, up to REQUEST_TIMEOUT_MS.
   */
  #waitMs(): number {
    const { fullWaitMs, maxRefusalsPerSecond, maxFullWaitMs } = this.#options;
    return Math.min(maxFullWaitMs, Math.max(fullWaitMs, (this.#waiting * 1000) / maxRefusalsPerSecond));
  }

  /** Requests that may wait at once, over every model: MAX_REFUSALS_PER_SECOND x REQUEST_TIMEOUT_MS (500 by default). */
  #lineLimit(): number {
    const { maxRefusalsPerSecond, maxFullWaitMs } = this.#options;
    return Math.max(1, Math.ceil((maxRefusalsPerSecond * maxFullWaitMs) / 1000));
  }

  /** Wakes every request waiting for room (they get SHUTTING_DOWN): the server starts draining. */
  stopWaiting(): void {
    for (const entry of this.entries()) if (isClassifier(entry)) entry.admission.closeLine();
  }

  #drainRefusal(name?: string, version?: string): Error {
    try {
      return this.resolve(name, version).refusal('SHUTTING_DOWN');
    } catch {
      return errors.SHUTTING_DOWN();
    }
  }

  /** Whether a model (and version) takes work now: `/v2/models/{m}/ready`. */
  modelReady(name?: string, version?: string): boolean {
    return !this.shuttingDown && this.resolve(name, version).ready;
  }

  /** Server readiness: startup is over, not draining, and every model serving at startup still serves (unless unloaded or removed). */
  ready(): boolean {
    if (this.shuttingDown || this.#startModels === undefined) return false;
    for (const name of this.#startModels) {
      const record = this.#models.get(name);
      if (record !== undefined && !record.unloaded && !this.#serving(record)) return false;
    }
    return true;
  }

  /** Names of the models with a version serving, sorted. */
  servedModels(): string[] {
    return [...this.#models]
      .filter(([, record]) => this.#serving(record))
      .map(([name]) => name)
      .sort();
  }

  /** The versions of a model that are READY, ascending (`/v2/models/{m}` lists them). */
  servedVersions(name: string): number[] {
    const record = this.#models.get(name);
    if (record === undefined) return [];
    return [...record.versions.values()].filter((e) => isClassifier(e) && e.ready).map((e) => e.version);
  }

  /** Every model and version with its state and reason (POST /v2/repository/index). */
  index(readyOnly = false): IndexEntry[] {
    const rows: IndexEntry[] = [];
    for (const [name, record] of [...this.#models].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const versions = [...record.versions.values()].sort((a, b) => a.version - b.version);
      if (versions.length === 0)
        rows.push({ name, state: 'UNAVAILABLE', reason: record.note || 'no version is loaded' });
      for (const e of versions) rows.push({ name, version: String(e.version), state: e.state, reason: e.reason });
    }
    for (const c of this.#retiring) {
      if (this.#models.get(c.name)?.versions.get(c.version) === undefined)
        rows.push({ name: c.name, version: String(c.version), state: c.state, reason: 'draining before it stops' });
    }
    return readyOnly ? rows.filter((row) => row.state === 'READY') : rows;
  }

  /** Every version entry, for the ready gauge. */
  entries(): VersionEntry[] {
    return [...this.#models.values()].flatMap((record) => [...record.versions.values()]);
  }

  /** The entry of a model version, if the registry holds one. */
  get(name: string, version: number): VersionEntry | undefined {
    return this.#models.get(name)?.versions.get(version);
  }

  /** The version numbers the registry holds for a model (any state). */
  versionsOf(name: string): number[] {
    return [...(this.#models.get(name)?.versions.keys() ?? [])];
  }

  /** Names of every model the registry holds a record for (any state). */
  modelNames(): string[] {
    return [...this.#models.keys()];
  }

  /**
   * Adds (or replaces) a version entry; a replaced classifier is retired after the new one took its
   * place (its series stay when a classifier takes them over: they have the same labels).
   */
  put(entry: VersionEntry): Promise<void> {
    const record = this.#record(entry.name);
    record.unloaded = false;
    const previous = record.versions.get(entry.version);
    record.versions.set(entry.version, entry);
    if (!isClassifier(previous) || previous === entry) return Promise.resolve();
    return this.#retire(previous, isClassifier(entry));
  }

  /** Takes a version out (no new request finds it) and retires it: its held requests finish, its engine drains. */
  retire(name: string, version: number): Promise<void> {
    const record = this.#models.get(name);
    const entry = record?.versions.get(version);
    if (record === undefined || entry === undefined) return Promise.resolve();
    record.versions.delete(version);
    return isClassifier(entry) ? this.#retire(entry, false) : Promise.resolve();
  }

  /** Records why a model has no version; `unloaded` when it was unloaded through the API. */
  setNote(name: string, note: string, unloaded = false): void {
    const record = this.#record(name);
    record.note = note;
    record.unloaded = unloaded;
  }

  /** Forgets a model (its folder left the repository) after retiring every version. */
  async remove(name: string): Promise<void> {
    await Promise.all(this.versionsOf(name).map((version) => this.retire(name, version)));
    this.#models.delete(name);
  }

  /** Startup is over: the models serving now are those whose readiness the server's readiness follows. */
  startupDone(): void {
    this.#startModels = new Set(this.servedModels());
    this.#markStarted();
  }

  /** Retires everything (after in-flight requests, on app close). */
  async close(): Promise<void> {
    await Promise.all(this.modelNames().flatMap((name) => this.versionsOf(name).map((v) => this.retire(name, v))));
    await Promise.all([...this.#retiring].map((c) => c.retire(this.#options.drainTimeoutMs)));
  }

  #retire(classifier: Classifier, keepSeries: boolean): Promise<void> {
    this.#retiring.add(classifier);
    return classifier.retire(this.#options.drainTimeoutMs, keepSeries).finally(() => this.#retiring.delete(classifier));
  }

  #record(name: string): ModelRecord {
    let record = this.#models.get(name);
    if (record === undefined) {
      record = { versions: new Map(), note: '', unloaded: false };
      this.#models.set(name, record);
    }
    return record;
  }

  #serving(record: ModelRecord): boolean {
    return [...record.versions.values()].some((e) => isClassifier(e) && e.ready);
  }

  /** DEFAULT_MODEL, else the only model the registry holds; with several, MODEL_REQUIRED naming them. */
  #defaultModel(): string {
    if (this.#options.defaultModel !== undefined) return this.#options.defaultModel;
    const names = [...this.#models.keys()];
    const [only] = names;
    if (names.length === 1 && only !== undefined) return only;
    if (names.length === 0) throw errors.MODEL_UNAVAILABLE('(any)', 'no model is loaded');
    const served = this.servedModels();
    if (served.length === 1 && served[0] !== undefined) return served[0];
    throw errors.MODEL_REQUIRED(names.sort().join(', '));
  }
}
