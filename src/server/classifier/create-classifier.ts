// The one factory of classifiers: reads the version's manifest (an unreadable or incomplete one is
// an error naming the file), gives it its labelled metrics, and starts its engine in the background. The classifier is LOADING until the engine is warm.
import type { ModelManifest } from '../../model/manifest.ts';
import type { ComputeGate } from '../../model/runtime/compute-gate.ts';
import { createEngine } from '../../model/runtime/engine.ts';
import type { ServiceMetrics } from '../plugins/metrics.ts';
import { modelMetrics } from './model-metrics.ts';
import { Classifier, type ClassifierLogger } from './classifier.ts';
import { engineOptionsFor } from './engine-options.ts';
import { readManifest } from './read-manifest.ts';
import type { ClassifierSpec, ServerSettings } from './spec.ts';

export interface ClassifierDeps {
  readonly server: ServerSettings;
  readonly metrics: ServiceMetrics;
  readonly logger: ClassifierLogger;
  /** Shared by every engine of the service: MODEL_INSTANCES batches compute at once across models. */
  readonly computeGate?: ComputeGate;
  /** The inference worker's entry module (EngineOptions.workerModule); worker.ts unless given. */
  readonly workerModule?: URL | undefined;
}

/** Reads the version's manifest (an error naming the file when it cannot), then makes its classifier. */
export async function createClassifier(spec: ClassifierSpec, deps: ClassifierDeps): Promise<Classifier> {
  return classifierFrom(spec, await readManifest(spec.modelPath), deps);
}

/** A classifier for a version whose manifest has been read; its engine starts in the background. */
export function classifierFrom(spec: ClassifierSpec, manifest: ModelManifest, deps: ClassifierDeps): Classifier {
  const logger = deps.logger.child({ model: spec.name, version: spec.version });
  const classifier = new Classifier({
    spec,
    manifest,
    server: deps.server,
    metrics: modelMetrics(deps.metrics, { model: spec.name, version: String(spec.version) }),
    logger,
  });
  classifier.start(
    createEngine({
      ...engineOptionsFor(deps.server, spec),
      ...(deps.computeGate === undefined ? {} : { computeGate: deps.computeGate }),
      workerModule: deps.workerModule,
      logger: logger.child({ component: 'engine' }),
    }),
  );
  return classifier;
}
