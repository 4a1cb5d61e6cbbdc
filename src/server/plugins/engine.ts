// The engine's lifecycle. The manifest is read first (routes need its labels); the engine itself
// (worker thread, session, warm-up of every batch size) starts in the background, so the server
// can listen and answer liveness while the model warms: readiness = the engine is warm and the
// process is not draining. An injected engine (tests, benchmarks) is used as is and left to its
// owner to close; one this app started is closed on app close, after in-flight requests.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from '../../errors.ts';
import { createEngine, type Engine, type EngineOptions } from '../../model/runtime/engine.ts';
import type { Config } from '../config.ts';
import { manifestPathFor, type ModelManifest } from '../../model/manifest.ts';
import { loadManifest } from '../../model/runtime/load-manifest.ts';
import type { Lifecycle } from '../types.ts';
import { observeEngine } from './metrics.ts';
import { Admission, admissionLimit } from '../admission.ts';

export function isReady(app: FastifyInstance): boolean {
  return !app.lifecycle.shuttingDown && app.engine !== null && app.engine.ready;
}

/** The engine, once it has started; NOT_READY before. */
export function startedEngine(app: FastifyInstance): Engine {
  if (app.engine === null) throw errors.NOT_READY();
  return app.engine;
}

/** Counts a refusal of work by its code and returns the error to throw. */
export function refusal(app: FastifyInstance, code: 'SHUTTING_DOWN' | 'NOT_READY' | 'QUEUE_FULL'): Error {
  app.metrics.rejections.inc({ reason: code.toLowerCase() });
  return errors[code]();
}

/** Whether the server holds as many images as it admits, or the engine's queue is full. */
function full(app: FastifyInstance): boolean {
  return app.admission.full || (app.engine?.queueDepth ?? 0) >= app.config.maxQueue;
}

/**
 * onRequest hook for routes that queue inference work: refuses it before the body is read.
 * A request that finds the server full first waits FULL_WAIT_MS and is served if there is room
 * then. Clients that retry a 503 at once (load generators, naive retry loops) otherwise turn the
 * refusals themselves into the overload: each costs little, but without a pause they come as fast
 * as the CPU can answer them, and at 8x the saturating connections they took half of the model's
 * CPU. The pause costs one timer, not CPU.
 */
export async function acceptingWork(this: FastifyInstance): Promise<void> {
  if (this.lifecycle.shuttingDown) throw refusal(this, 'SHUTTING_DOWN');
  if (!isReady(this)) throw refusal(this, 'NOT_READY');
  if (!full(this)) return;
  if (this.config.fullWaitMs > 0) await sleep(this.config.fullWaitMs);
  if (this.lifecycle.shuttingDown) throw refusal(this, 'SHUTTING_DOWN');
  if (full(this)) throw refusal(this, 'QUEUE_FULL');
}

/** The engine this config asks for (benchmarks use it to build the same engine the server runs). */
export function engineOptionsFor(config: Config): EngineOptions {
  return {
    modelPath: config.modelPath,
    executionProvider: config.executionProvider,
    cudaDeviceId: config.cudaDeviceId,
    intraOpThreads: config.intraOpThreads,
    allowSpinning: config.ortAllowSpinning,
    maxBatchSize: config.maxBatchSize,
    maxBatchDelayMs: config.maxBatchDelayMs,
    maxQueue: config.maxQueue,
    defaultDeadlineMs: config.requestTimeoutMs,
  };
}

function startEngine(app: FastifyInstance): Promise<Engine> {
  return createEngine({ ...engineOptionsFor(app.config), logger: app.log.child({ component: 'engine' }) });
}

function attach(app: FastifyInstance, engine: Engine): void {
  app.engine = engine;
  observeEngine(app.metrics, engine.stats);
  engine.stats.on('batch', ({ size, computeSeconds, ok }) =>
    app.log.debug({ batchSize: size, computeMs: Math.round(computeSeconds * 1000), ok }, 'batch done'),
  );
  engine.stats.on('readiness', (ready) => app.log.info({ ready }, 'engine readiness changed'));
}

/** The model's manifest, or an error naming the file and what is wrong with it (a bare JSON.parse message named neither). */
async function readManifest(modelPath: string): Promise<ModelManifest> {
  const where = `The manifest of ${modelPath} (${manifestPathFor(modelPath)})`;
  let manifest: ModelManifest;
  try {
    manifest = await loadManifest(modelPath);
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error(`${where} is not valid JSON: ${err.message}`, { cause: err });
    throw err;
  }
  const missing: string[] = (['inputs', 'outputs', 'labels'] as const).filter((key) => !Array.isArray(manifest[key]));
  for (const key of ['weights', 'preprocess'] as const)
    if (typeof manifest[key] !== 'object' || manifest[key] === null) missing.push(key);
  if (missing.length > 0)
    throw new Error(`${where} lacks ${missing.join(', ')}; rebuild the model with \`npm run build:model\``);
  return manifest;
}

export const enginePlugin = fp<{ engine?: Engine; lifecycle: Lifecycle }>(
  async (app, options) => {
    app.decorate('lifecycle', options.lifecycle);
    app.decorate('engine', null);
    app.decorate('admission', new Admission(admissionLimit(app.config)));
    app.decorate('manifest', options.engine?.manifest ?? (await readManifest(app.config.modelPath)));
    const { weights, labels } = app.manifest;
    app.metrics.modelInfo.set(
      { name: app.config.modelName, weights: weights.trained ? 'trained' : 'seeded', classes: String(labels.length) },
      1,
    );
    app.metrics.setReadinessSource(() => isReady(app));

    const started = options.engine === undefined ? startEngine(app) : Promise.resolve(options.engine);
    app.decorate(
      'engineStarted',
      started.then((engine) => (attach(app, engine), engine)),
    );
    // main.ts awaits engineStarted and exits on failure; this keeps other callers from an unhandled rejection.
    app.engineStarted.catch((err: unknown) => app.log.error({ err }, 'the inference engine failed to start'));

    // Draining starts with app.close() at the latest (main.ts sets it earlier, on the signal).
    app.addHook('preClose', async () => {
      app.lifecycle.shuttingDown = true;
    });
    if (options.engine === undefined) {
      app.addHook('onClose', async () => {
        const engine = await app.engineStarted.catch(() => null);
        await engine?.close();
      });
    }
  },
  { name: 'engine', dependencies: ['metrics'] },
);
