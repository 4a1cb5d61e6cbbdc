// deploy/kserve/inferenceservice.yaml. kubernetes-models has no KServe types, so the predictor is
// checked the way KServe defines it: a core/v1 PodSpec inlined with KServe's ComponentExtensionSpec
// fields (kserve/kserve, pkg/apis/serving/v1beta1: PredictorSpec, ComponentExtensionSpec).
import { describe, expect, it } from 'vitest';
import { Pod } from 'kubernetes-models/v1';
import { expectServerContainer } from './expect-server-container.ts';
import { COMPONENT_EXTENSION_FIELDS, splitPredictor } from './kserve-predictor.ts';
import { envOf, findManifest, loadManifests } from './load-manifests.ts';

const SCALE_METRICS = ['cpu', 'memory', 'concurrency', 'rps'];

interface InferenceService {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { predictor: Record<string, unknown> };
}

const isvc = findManifest(
  loadManifests(),
  'InferenceService',
  'kserve/inferenceservice.yaml',
) as unknown as InferenceService;

describe('deploy/kserve/inferenceservice.yaml', () => {
  const { extension, podSpec } = splitPredictor(isvc.spec.predictor);
  const container = podSpec.containers[0]!;

  it('is a serving.kserve.io/v1beta1 InferenceService with only a predictor', () => {
    expect([isvc.apiVersion, isvc.kind]).toEqual(['serving.kserve.io/v1beta1', 'InferenceService']);
    expect(Object.keys(isvc.spec)).toEqual(['predictor']);
  });

  it('its metadata and predictor validate as a Pod (kubernetes-models), plus well-typed KServe extension fields', () => {
    expect(() => new Pod({ metadata: isvc.metadata, spec: podSpec }).validate()).not.toThrow();
    for (const [key, value] of Object.entries(extension)) {
      const type = COMPONENT_EXTENSION_FIELDS[key];
      expect(type === 'integer' ? Number.isInteger(value) : typeof value === type, `${key}: ${String(value)}`).toBe(
        true,
      );
    }
    expect(SCALE_METRICS).toContain(extension.scaleMetric);
    expect(extension.minReplicas as number).toBeLessThanOrEqual(extension.maxReplicas as number);
  });

  it('runs one container named kserve-container with the same server checks as the Deployment', () => {
    expect(podSpec.containers.map((c) => c.name)).toEqual(['kserve-container']);
    expectServerContainer(container, podSpec.terminationGracePeriodSeconds);
  });

  it('serves the V2 model under the InferenceService name, so /v2/models/<isvc name>/infer works', () => {
    expect(envOf(container).MODEL_NAME).toBe(isvc.metadata.name);
  });

  it('uses raw Deployment mode with HPA, which the preStop hook and startupProbe need', () => {
    expect(isvc.metadata.annotations).toMatchObject({
      'serving.kserve.io/deploymentMode': 'RawDeployment',
      'serving.kserve.io/autoscalerClass': 'hpa',
    });
    expect(container.lifecycle?.preStop).toBeDefined();
    expect(container.startupProbe).toBeDefined();
  });
});
