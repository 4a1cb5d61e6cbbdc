// Every health check the deployments use (Kubernetes probes, KServe probes, the Dockerfiles'
// HEALTHCHECK) asked of the real app (tiny model, real engine): liveness answers while the process
// serves; readiness answers 200 once the model is warm and 503 once the process drains, which is
// what takes a terminating pod out of its Service.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { buildApp } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import type { Lifecycle } from '../../src/server/app.ts';
import { ROOT, envOf, findManifest, loadManifests } from './load-manifests.ts';

interface Probed {
  readonly where: string;
  readonly path: string;
  readonly kind: 'liveness' | 'readiness';
}

function probesOf(where: string, c: IContainer): Probed[] {
  const probe = (name: string, path: string | undefined): Probed => ({
    where: `${where} ${name}`,
    path: path ?? '(none)',
    kind: name === 'livenessProbe' ? 'liveness' : 'readiness',
  });
  return [
    probe('livenessProbe', c.livenessProbe?.httpGet?.path),
    probe('readinessProbe', c.readinessProbe?.httpGet?.path),
    // the startup probe stands in for readiness: liveness starts once the model is warm
    probe('startupProbe', c.startupProbe?.httpGet?.path),
  ];
}

function healthcheckPath(dockerfile: string): Probed {
  const path = /HEALTHCHECK[\s\S]*?fetch\('http:\/\/127\.0\.0\.1:'\+\(process\.env\.PORT\|\|\d+\)\+'([^']+)'/.exec(
    readFileSync(join(ROOT, dockerfile), 'utf8'),
  )?.[1];
  return { where: `${dockerfile} HEALTHCHECK`, path: path ?? '(none)', kind: 'readiness' };
}

const manifests = loadManifests();
type WithContainers = { spec: { template: { spec: { containers: IContainer[] } } } };
type WithPredictor = { spec: { predictor: { containers: IContainer[] } } };
const deploymentContainer = (findManifest(manifests, 'Deployment') as unknown as WithContainers).spec.template.spec
  .containers[0]!;
const kserveContainer = (findManifest(manifests, 'InferenceService') as unknown as WithPredictor).spec.predictor
  .containers[0]!;
const probes = [
  ...probesOf('deployment.yaml', deploymentContainer),
  ...probesOf('kserve/inferenceservice.yaml', kserveContainer),
  healthcheckPath('Dockerfile'),
  healthcheckPath('Dockerfile.cuda'),
];

describe('health checks of the deployments, asked of the app', () => {
  const lifecycle: Lifecycle = { shuttingDown: false };
  let app: FastifyInstance;

  beforeAll(async () => {
    const env = {
      ...envOf(deploymentContainer),
      MODEL_PATH: inject('tinyModelPath'),
      INTRA_OP_THREADS: '1',
      MAX_BATCH_SIZE: '2',
      LOG_LEVEL: 'silent',
    };
    app = await buildApp(loadConfig(env, []), { lifecycle });
    await app.ready();
    await app.registry.whenStarted();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('every probe and HEALTHCHECK names a path (the list is what the next tests ask)', () => {
    expect(probes).toHaveLength(8);
    expect(probes.filter((p) => p.path === '(none)')).toEqual([]);
  });

  it('all of them answer 200 once the model is warm', async () => {
    for (const { where, path } of probes) {
      const response = await app.inject({ method: 'GET', url: path });
      expect(response.statusCode, `${where} GET ${path}`).toBe(200);
    }
  });

  it('while draining, readiness checks answer 503 and liveness checks still 200', async () => {
    lifecycle.shuttingDown = true;
    try {
      for (const { where, path, kind } of probes) {
        const response = await app.inject({ method: 'GET', url: path });
        expect(response.statusCode, `${where} GET ${path}`).toBe(kind === 'liveness' ? 200 : 503);
      }
    } finally {
      lifecycle.shuttingDown = false;
    }
  });
});
