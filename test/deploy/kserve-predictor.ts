// A KServe predictor is a core/v1 PodSpec inlined with KServe's ComponentExtensionSpec fields
// (kserve/kserve, pkg/apis/serving/v1beta1: PredictorSpec, ComponentExtensionSpec): split apart
// here so the PodSpec can be validated with kubernetes-models.
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';

/** ComponentExtensionSpec's fields (KServe v1beta1), beside the inlined PodSpec. */
export const COMPONENT_EXTENSION_FIELDS: Record<string, 'integer' | 'string' | 'object'> = {
  minReplicas: 'integer',
  maxReplicas: 'integer',
  scaleMetric: 'string',
  scaleMetricType: 'string',
  scaleTarget: 'integer',
  containerConcurrency: 'integer',
  timeout: 'integer',
  canaryTrafficPercent: 'integer',
  logger: 'object',
  batcher: 'object',
  labels: 'object',
  annotations: 'object',
  deploymentStrategy: 'object',
  autoScaling: 'object',
};

export function splitPredictor(predictor: Record<string, unknown>): {
  extension: Record<string, unknown>;
  podSpec: IPodSpec;
} {
  const extension: Record<string, unknown> = {};
  const podSpec: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(predictor))
    (key in COMPONENT_EXTENSION_FIELDS ? extension : podSpec)[key] = value;
  return { extension, podSpec: podSpec as unknown as IPodSpec };
}
