// The model-repository overlays of deploy/ (deploy/repository/ for the Deployment,
// deploy/kserve/repository/ for KServe): each kustomization's JSON 6902 patch applied to its base
// the way kustomize does, and the result validated like the base (schema, server config, probes'
// sizing) plus the repository: MODEL_REPOSITORY is a read-only volume of a PersistentVolumeClaim.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Pod } from 'kubernetes-models/v1';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { loadConfig } from '../../src/server/config.ts';
import { expectServerContainer } from './expect-server-container.ts';
import { applyJsonPatch, type Operation } from './json-patch.ts';
import { splitPredictor } from './kserve-predictor.ts';
import { DEPLOY_DIR, envOf, findManifest, loadManifests } from './load-manifests.ts';

function overlay(dir: string): { resources: string[]; patch: Operation[]; target: { kind: string; name: string } } {
  const kustomization = parse(readFileSync(join(DEPLOY_DIR, dir, 'kustomization.yaml'), 'utf8')) as {
    resources: string[];
    patches: { path: string; target: { kind: string; name: string } }[];
  };
  expect(kustomization.patches).toHaveLength(1);
  const [{ path, target }] = kustomization.patches as [{ path: string; target: { kind: string; name: string } }];
  const patch = parse(readFileSync(join(DEPLOY_DIR, dir, path), 'utf8')) as Operation[];
  return { resources: kustomization.resources, patch, target };
}

/** The repository's volume: MODEL_REPOSITORY is the path of a read-only mount of a read-only PVC. */
function expectRepositoryVolume(container: IContainer, podSpec: IPodSpec): void {
  const env = envOf(container);
  const config = loadConfig(env, []);
  expect(config).toMatchObject({ modelRepository: '/models', modelControlMode: 'poll', modelName: undefined });
  const mount = container.volumeMounts?.find((m) => m.mountPath === config.modelRepository);
  expect(mount?.readOnly).toBe(true);
  const volume = podSpec.volumes?.find((v) => v.name === mount?.name);
  expect(volume?.persistentVolumeClaim).toEqual({ claimName: 'resnet-models', readOnly: true });
  // the writable paths of the base stay
  expect(container.volumeMounts?.map((m) => m.mountPath)).toEqual(expect.arrayContaining(['/tmp']));
}

const manifests = loadManifests();

describe('deploy/repository/', () => {
  const { resources, patch, target } = overlay('repository');
  const base = findManifest(manifests, 'Deployment', 'deployment.yaml');
  const patched = new Deployment(applyJsonPatch(base, patch) as never);
  const podSpec = patched.spec!.template.spec!;
  const container = podSpec.containers[0]!;

  it('patches the Deployment of deploy/', () => {
    expect(resources).toEqual(['../']);
    expect(target).toEqual({ kind: 'Deployment', name: base.metadata.name });
  });

  it('gives a Deployment that validates and runs the server with valid config, as the base does', () => {
    expect(() => patched.validate()).not.toThrow();
    expectServerContainer(container, podSpec.terminationGracePeriodSeconds);
  });

  it('serves a read-only repository volume, with memory for several models', () => {
    expectRepositoryVolume(container, podSpec);
    expect(container.resources?.limits?.memory).toBe('2Gi');
  });

  it('fails to apply when the base env moved (the patch tests what it replaces)', () => {
    const moved = structuredClone(base) as typeof base & {
      spec: { template: { spec: { containers: { env: unknown[] }[] } } };
    };
    moved.spec.template.spec.containers[0]!.env.reverse();
    expect(() => applyJsonPatch(moved, patch)).toThrow(/^test /);
  });
});

describe('deploy/kserve/repository/', () => {
  const { resources, patch, target } = overlay('kserve/repository');
  const base = findManifest(manifests, 'InferenceService', 'kserve/inferenceservice.yaml');
  const patched = applyJsonPatch(base, patch) as unknown as { spec: { predictor: Record<string, unknown> } };
  const { podSpec } = splitPredictor(patched.spec.predictor);
  const container = podSpec.containers[0]!;

  it('patches the InferenceService of deploy/kserve/', () => {
    expect(resources).toEqual(['../']);
    expect(target).toEqual({ kind: 'InferenceService', name: base.metadata.name });
  });

  it('gives a predictor that validates as a Pod and runs the server with valid config', () => {
    expect(() => new Pod({ metadata: { name: 'x' }, spec: podSpec }).validate()).not.toThrow();
    expectServerContainer(container, podSpec.terminationGracePeriodSeconds);
  });

  it('serves a read-only repository volume', () => {
    expectRepositoryVolume(container, podSpec);
  });
});
