// The models the service serves, as one registry of classifiers (app.registry), filled in one of
// two ways:
// - MODEL_REPOSITORY: the repository controller loads every model of the folder, then keeps it
//   in step on load/unload (explicit mode) or every REPOSITORY_POLL_SECONDS (poll mode);
// - otherwise the single model of MODEL_PATH, served as version 1 under MODEL_NAME or its
//   manifest's name. Its manifest is read before the app is built, so a broken one stops startup.
// Engines start in the background: the server listens and answers liveness while models warm.
// Draining starts with app.close() at the latest (main.ts sets it earlier, on the signal); the
// registry retires every classifier on close, after in-flight requests.
import { stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ComputeGate } from '../../model/runtime/compute-gate.ts';
import { classifierFrom, createClassifier, type ClassifierDeps } from '../classifier/create-classifier.ts';
import { readManifest } from '../classifier/read-manifest.ts';
import { modelNameProblem } from '../classifier/model-name.ts';
import { ModelRegistry, UnavailableVersion, type Lifecycle } from '../classifier/registry.ts';
import { batchSettingsOf, type ClassifierSpec } from '../classifier/spec.ts';
import type { Config } from '../config.ts';
import { RepositoryController } from '../repository/controller.ts';

/** The single model of MODEL_PATH, version 1, named by MODEL_NAME or its manifest. */
async function singleModel(app: FastifyInstance, deps: ClassifierDeps, registry: ModelRegistry): Promise<void> {
  const { config } = app;
  const manifest = await readManifest(config.modelPath);
  const name = config.modelName ?? manifest.name;
  const problem = modelNameProblem(name);
  if (problem !== undefined)
    throw new Error(
      `The manifest of ${config.modelPath} names the model ${JSON.stringify(name)}: ${problem}; set MODEL_NAME`,
    );
  const spec: ClassifierSpec = {
    name,
    version: 1,
    modelPath: config.modelPath,
    settings: batchSettingsOf(config),
    label: config.modelPath,
    signature: config.modelPath,
  };
  const classifier = classifierFrom(spec, manifest, deps);
  await registry.put(classifier);
  void classifier.loaded.then(() => registry.startupDone());
}

async function repositoryModels(app: FastifyInstance, deps: ClassifierDeps, registry: ModelRegistry, root: string) {
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory())
    throw new Error(
      `MODEL_REPOSITORY ${root} is not a folder; it holds one folder per model: ${root}/<model>/<version>/model.onnx`,
    );
  const controller = new RepositoryController({
    root,
    registry,
    make: (spec) => createClassifier(spec, deps),
    defaults: batchSettingsOf(app.config),
    logger: app.log.child({ component: 'repository' }),
  });
  void controller.start().then(
    () => {
      if (app.config.modelControlMode === 'poll') controller.startPolling(app.config.repositoryPollSeconds);
    },
    (err: unknown) => {
      app.log.error({ err }, 'the model repository could not be loaded');
      registry.startupDone();
    },
  );
  app.addHook('preClose', () => controller.stop());
  return controller;
}

export const modelRegistryPlugin = fp<{ lifecycle: Lifecycle; workerModule?: URL | undefined }>(
  async (app, { lifecycle, workerModule }) => {
    const { config } = app;
    const registry = new ModelRegistry({
      lifecycle,
      defaultModel: config.defaultModel,
      drainTimeoutMs: config.shutdownTimeoutMs,
      fullWaitMs: config.fullWaitMs,
      maxRefusalsPerSecond: config.maxRefusalsPerSecond,
      maxFullWaitMs: config.requestTimeoutMs,
    });
    const deps: ClassifierDeps = {
      server: config,
      metrics: app.metrics,
      logger: app.log,
      // One place per instance: MODEL_INSTANCES batches compute at once across every model.
      computeGate: new ComputeGate(config.modelInstances),
      workerModule,
    };
    app.decorate('registry', registry);
    app.metrics.setReadinessSource(() =>
      registry.entries().map((entry) => ({
        model: entry.name,
        version: String(entry.version),
        ready: !registry.shuttingDown && !(entry instanceof UnavailableVersion) && entry.ready,
      })),
    );
    const root = config.modelRepository;
    app.decorate('repository', root === undefined ? null : await repositoryModels(app, deps, registry, root));
    if (root === undefined) await singleModel(app, deps, registry);

    app.addHook('preClose', async () => {
      lifecycle.shuttingDown = true;
      registry.stopWaiting();
    });
    app.addHook('onClose', () => registry.close());
  },
  { name: 'model-registry', dependencies: ['metrics'] },
);

declare module 'fastify' {
  interface FastifyInstance {
    readonly config: Config;
    /** Every model version the service holds; routes of every transport find their classifier here. */
    readonly registry: ModelRegistry;
    /** The repository controller (load, unload, poll); null without MODEL_REPOSITORY. */
    readonly repository: RepositoryController | null;
  }
}
