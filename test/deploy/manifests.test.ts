// deploy/ validated against the Kubernetes schemas (kubernetes-models) and kept in step with the
// server: its config variables, default port and drain bound.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Pod, Service } from 'kubernetes-models/v1';
import { expectServerContainer } from './expect-server-container.ts';
import { DEPLOY_DIR, findManifest, loadManifests } from './load-manifests.ts';

const VALIDATORS: Record<string, (object: Record<string, unknown>) => void> = {
  'apps/v1 Deployment': (o) => new Deployment(o as never).validate(),
  'v1 Service': (o) => new Service(o as never).validate(),
  'autoscaling/v2 HorizontalPodAutoscaler': (o) => new HorizontalPodAutoscaler(o as never).validate(),
  'policy/v1 PodDisruptionBudget': (o) => new PodDisruptionBudget(o as never).validate(),
};

const manifests = loadManifests();
const deployment = new Deployment(findManifest(manifests, 'Deployment') as never);
const podSpec = deployment.spec!.template.spec!;
const container = podSpec.containers[0]!;

describe('deploy/ manifests', () => {
  it('parse, and every object validates against the Kubernetes schema of its kind', () => {
    // The top-level files; the folders hold the KServe example and overlays (their own tests).
    const plain = manifests.filter((m) => !m.file.includes('/') && m.file !== 'kustomization.yaml');
    expect(plain.map((m) => m.object.kind).sort()).toEqual([
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'Service',
    ]);
    for (const { file, object } of plain) {
      const validate = VALIDATORS[`${object.apiVersion} ${object.kind}`];
      expect(validate, `${file}: no validator for ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => validate!(object), file).not.toThrow();
    }
  });

  it('fail validation when a field has the wrong type (the check above can fail)', () => {
    const broken = structuredClone(findManifest(manifests, 'Deployment')) as unknown as {
      spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } };
    };
    broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'http';
    expect(() => new Deployment(broken as never).validate()).toThrow(/containerPort must be integer/);
  });

  it('kustomization.yaml lists every plain manifest in deploy/ and nothing else', () => {
    const kustomization = parse(readFileSync(join(DEPLOY_DIR, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    const plainFiles = manifests
      .filter((m) => !m.file.includes('/') && m.file !== 'kustomization.yaml')
      .map((m) => m.file);
    expect([...kustomization.resources].sort()).toEqual([...new Set(plainFiles)].sort());
  });

  it('the Deployment runs the server with valid config, its default port, sized threads and a grace period above the drain bound', () => {
    expect(container.name).toBe('resnet-serve');
    expectServerContainer(container, podSpec.terminationGracePeriodSeconds);
    expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
  });

  it('probes reach the container ports: liveness and startup the http port by name, readiness the grpc port', () => {
    const [http, grpc] = container.ports!;
    for (const probe of [container.livenessProbe, container.startupProbe])
      expect(probe?.httpGet?.port).toBe(http!.name);
    // grpc probes take a number: the grpc port's
    expect([grpc!.name, container.readinessProbe?.grpc?.port]).toEqual(['grpc', grpc!.containerPort]);
  });

  it('the Service, HPA and PDB point at the Deployment and its pods', () => {
    const labels = deployment.spec!.template.metadata!.labels!;
    const service = new Service(findManifest(manifests, 'Service') as never);
    expect(Object.entries(service.spec!.selector!).every(([k, v]) => labels[k] === v)).toBe(true);
    expect(service.spec!.ports!.map((p) => p.targetPort)).toEqual(container.ports!.map((p) => p.name));
    expect(service.spec!.ports!.map((p) => p.name)).toEqual(['http', 'grpc']);
    const hpa = new HorizontalPodAutoscaler(findManifest(manifests, 'HorizontalPodAutoscaler') as never);
    expect(hpa.spec!.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata!.name,
    });
    expect(hpa.spec!.minReplicas).toBeGreaterThanOrEqual(2);
    const pdb = new PodDisruptionBudget(findManifest(manifests, 'PodDisruptionBudget') as never);
    expect(Object.entries(pdb.spec!.selector!.matchLabels!).every(([k, v]) => labels[k] === v)).toBe(true);
    expect(deployment.spec!.selector.matchLabels).toEqual(pdb.spec!.selector!.matchLabels);
  });

  it('volumes cover the writable paths of a read-only root filesystem: /tmp and MODEL_CACHE_DIR', () => {
    const mounts = container.volumeMounts!.map((m) => m.mountPath).sort();
    expect(mounts).toEqual(['/app/models/cache', '/tmp']);
    expect(podSpec.volumes!.map((v) => v.name).sort()).toEqual(container.volumeMounts!.map((m) => m.name).sort());
  });

  it('a Pod made from the Deployment template validates too (the schema of Pod, used for KServe below)', () => {
    expect(() => new Pod({ metadata: { name: 'x' }, spec: podSpec }).validate()).not.toThrow();
  });
});
