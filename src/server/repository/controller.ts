// Keeps the registry in step with the repository on disk: at start (every mode), on load and
// unload (explicit mode) and on every poll (poll mode). One change runs at a time. For a model,
// the version policy picks the versions to serve out of its version folders; a version not yet
// held (or whose files changed) is loaded and warmed before it takes traffic, and only then are
// the versions it replaces retired, each draining its requests and queue first: a switch fails no
// request. A version that cannot load is UNAVAILABLE with its reason, the versions already serving
// keep serving, and the same files are not tried again until they change.
import { errors } from '../../errors.ts';
import type { Classifier } from '../classifier/classifier.ts';
import type { ModelRegistry } from '../classifier/registry.ts';
import { UnavailableVersion } from '../classifier/registry.ts';
import type { BatchSettings, ClassifierSpec } from '../classifier/spec.ts';
import { configSignature, listModels, scanModel, type ModelFolder, type VersionFolder } from './layout.ts';
import { ModelConfigError, parseModelConfig, DEFAULT_MODEL_CONFIG, type ModelConfig } from './model-config.ts';
import { selectVersions } from './version-policy.ts';

export interface ControllerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ControllerOptions {
  readonly root: string;
  readonly registry: ModelRegistry;
  /** The classifier factory (createClassifier with the service's dependencies). */
  readonly make: (spec: ClassifierSpec) => Promise<Classifier>;
  /** Settings a model's config.json does not set. */
  readonly defaults: BatchSettings;
  readonly logger: ControllerLogger;
}

const failureMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class RepositoryController {
  readonly #options: ControllerOptions;
  /** One change at a time: load, unload and poll never interleave. */
  #chain: Promise<unknown> = Promise.resolve();
  /** `<model>/<version>` -> the signature of the files that failed to load (not retried until they change). */
  readonly #failed = new Map<string, string>();
  /** The last error of each model folder that could not be read (logged when it changes). */
  readonly #folderErrors = new Map<string, string>();
  /** Skipped-entry notes already logged (a poll would repeat them every time). */
  readonly #reported = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ControllerOptions) {
    this.#options = options;
  }

  /** Loads every model of the repository; throws when the repository folder cannot be read. */
  start(): Promise<void> {
    return this.#serial(async () => {
      const { models } = await this.#list();
      for (const name of models) await this.#reconcile(name);
      this.#options.registry.startupDone();
    });
  }

  /** Rescans every `seconds`: new models and versions are loaded, removed ones retired. */
  startPolling(seconds: number): void {
    this.#timer = setInterval(() => void this.poll(), seconds * 1000).unref();
  }

  /** One rescan of the whole repository. */
  poll(): Promise<void> {
    return this.#serial(async () => {
      let models: readonly string[];
      try {
        ({ models } = await this.#list());
      } catch (err) {
        // A mount that went away for a moment must not unload everything: keep serving, try again.
        this.#options.logger.error({ err: failureMessage(err) }, 'the model repository could not be read');
        return;
      }
      for (const name of models) await this.#reconcile(name);
      for (const name of this.#options.registry.modelNames().filter((n) => !models.includes(n))) {
        this.#options.logger.info({ model: name }, 'model folder removed: retiring its versions');
        await this.#options.registry.remove(name);
      }
    });
  }

  /** Explicit mode: (re)loads a model named by a folder of a fresh listing; MODEL_LOAD_FAILED when no version serves. */
  load(name: string): Promise<void> {
    return this.#serial(async () => {
      const { models } = await this.#list();
      if (!models.includes(name)) throw errors.MODEL_NOT_FOUND(`${JSON.stringify(name)} in the repository`);
      // Asked for by an operator: versions that failed are tried again, even with the same files.
      for (const key of [...this.#failed.keys()]) if (key.startsWith(`${name}/`)) this.#failed.delete(key);
      await this.#reconcile(name);
      const rows = this.#options.registry.index().filter((row) => row.name === name);
      if (!rows.some((row) => row.state === 'READY'))
        throw errors.MODEL_LOAD_FAILED(name, rows.map((row) => row.reason).join('; ') || 'no version to load');
    });
  }

  /** Explicit mode: retires every version of a model (each drains first); it stays in the index as unloaded. */
  async unload(name: string): Promise<void> {
    const retiring = await this.#serial(async () => {
      const { registry } = this.#options;
      const { models } = await this.#list();
      if (!models.includes(name) && !registry.modelNames().includes(name))
        throw errors.MODEL_NOT_FOUND(`${JSON.stringify(name)} in the repository`);
      const drained = registry.versionsOf(name).map((version) => registry.retire(name, version));
      registry.setNote(name, 'unloaded', true);
      this.#options.logger.info({ model: name }, 'model unloaded');
      return drained;
    });
    await Promise.all(retiring);
  }

  /** Stops polling and waits for the change in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#chain.catch(() => undefined);
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(task, task);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #list(): ReturnType<typeof listModels> {
    const listing = await listModels(this.#options.root);
    this.#report(listing.skipped);
    return listing;
  }

  #report(notes: readonly string[]): void {
    for (const note of notes) {
      if (this.#reported.has(note)) continue;
      this.#reported.add(note);
      this.#options.logger.warn({ entry: note }, 'skipped in the model repository');
    }
  }

  /** Brings one model in step with its folder. */
  async #reconcile(name: string): Promise<void> {
    const { registry, logger } = this.#options;
    let folder: ModelFolder;
    let config: ModelConfig;
    try {
      folder = await scanModel(this.#options.root, name);
      config = folder.configText === undefined ? DEFAULT_MODEL_CONFIG : parseModelConfig(folder.configText, name);
    } catch (err) {
      const reason = err instanceof ModelConfigError ? `${name}/${err.message}` : failureMessage(err);
      // Logged once per reason: a poll would repeat it every time.
      if (this.#folderErrors.get(name) !== reason)
        logger.error({ model: name, reason }, 'the model folder could not be read');
      this.#folderErrors.set(name, reason);
      // Versions already serving keep serving with the settings they were loaded with.
      registry.setNote(name, reason);
      return;
    }
    this.#folderErrors.delete(name);
    this.#report(folder.skipped);
    const { selected, missing } = selectVersions(
      config.versionPolicy,
      folder.versions.map((v) => v.version),
    );
    for (const version of selected) {
      const files = folder.versions.find((v) => v.version === version);
      if (files !== undefined) await this.#ensure(name, files, config, configSignature(folder.configText));
    }
    for (const version of missing)
      await registry.put(
        new UnavailableVersion(
          name,
          version,
          `version_policy names version ${version}, but there is no folder ${name}/${version}`,
        ),
      );
    await this.#retireUnselected(name, [...selected, ...missing]);
    if (registry.versionsOf(name).length === 0)
      registry.setNote(
        name,
        folder.versions.length === 0 ? `${name} holds no version folder (${name}/1/model.onnx)` : 'no version selected',
      );
  }

  /** Makes sure the registry serves this version with these files: loads it unless it already does, or already failed with them. */
  async #ensure(name: string, files: VersionFolder, config: ModelConfig, configSig: string): Promise<void> {
    const { registry, logger } = this.#options;
    const key = `${name}/${files.version}`;
    const signature = `${files.signature} ${configSig}`;
    const held = registry.get(name, files.version);
    const loaded = held !== undefined && !(held instanceof UnavailableVersion) && held.state !== 'UNAVAILABLE';
    if (loaded && held.spec.signature === signature) return;
    if (this.#failed.get(key) === signature) return;
    const serving = held !== undefined && !(held instanceof UnavailableVersion) && held.ready ? held : undefined;
    const failed = (reason: string): Promise<void> => {
      this.#failed.set(key, signature);
      logger.error({ model: name, version: files.version, reason }, 'the model version could not be loaded');
      // A reload that fails leaves the files that were serving in place.
      return serving === undefined
        ? registry.put(new UnavailableVersion(name, files.version, reason))
        : Promise.resolve();
    };
    if (files.problem !== undefined) return failed(files.problem);
    const spec: ClassifierSpec = {
      name,
      version: files.version,
      modelPath: files.modelPath,
      settings: { ...this.#options.defaults, ...config.settings },
      label: files.label,
      signature,
    };
    let classifier: Classifier;
    try {
      classifier = await this.#options.make(spec);
    } catch (err) {
      return failed(failureMessage(err).split(files.modelPath).join(files.label).split(this.#options.root).join('.'));
    }
    await this.#warm(classifier, serving);
  }

  /**
   * Loads and warms a new classifier; a new version shows LOADING in the index meanwhile, a reload
   * stays out of sight. Once READY it takes the place of the one it reloads; if it fails, the
   * version that was serving stays, and the files are not tried again until they change.
   */
  async #warm(classifier: Classifier, serving: Classifier | undefined): Promise<void> {
    const { registry, logger } = this.#options;
    const { name, version, spec } = classifier;
    if (serving === undefined) await registry.put(classifier);
    logger.info({ model: name, version }, 'loading model version');
    await classifier.loaded;
    if (classifier.state !== 'READY') {
      this.#failed.set(`${name}/${version}`, spec.signature);
      if (serving !== undefined) await classifier.retire(0, true);
      return;
    }
    this.#failed.delete(`${name}/${version}`);
    if (serving !== undefined) void registry.put(classifier);
    logger.info({ model: name, version }, 'model version ready');
  }

  /** Retires the versions the policy no longer names, once one it names is READY (or it names none that exist). */
  async #retireUnselected(name: string, wanted: readonly number[]): Promise<void> {
    const { registry } = this.#options;
    const serving = wanted.some((v) => {
      const entry = registry.get(name, v);
      return entry !== undefined && !(entry instanceof UnavailableVersion) && entry.ready;
    });
    const selectedExist = wanted.some((v) => registry.get(name, v) !== undefined);
    for (const version of registry.versionsOf(name)) {
      if (wanted.includes(version)) continue;
      const entry = registry.get(name, version);
      const servingNow = entry !== undefined && !(entry instanceof UnavailableVersion) && entry.ready;
      if (servingNow && !serving && selectedExist) continue;
      if (servingNow) this.#options.logger.info({ model: name, version }, 'retiring model version');
      void registry.retire(name, version);
    }
  }
}
