// Every health check the deployments use (Kubernetes probes, KServe probes, the Dockerfiles'
// HEALTHCHECK) asked of the real app (tiny model, real engine): HTTP probes over HTTP, `grpc:`
// probes as kubelet asks them (grpc.health.v1.Health Check with the probe's service) on the app's
// gRPC listener. Liveness answers while the process serves; readiness is 200 / SERVING once the
// model is warm and 503 / NOT_SERVING once the process drains, which takes a terminating pod out
// of its Service.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { credentials, type Client } from '@grpc/grpc-js';
import { startGrpcServer, type GrpcServer } from '../../src/server/grpc/grpc-server.ts';
import { call, HealthClient } from '../server/grpc/grpc-client.ts';
import { buildApp } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import type { Lifecycle } from '../../src/server/app.ts';
import { ROOT, envOf, findManifest, loadManifests } from './load-manifests.ts';

interface Probed {
  readonly where: string;
  /** An HTTP path, or `grpc:<service>` for a gRPC health probe. */
  readonly path: string;
  readonly kind: 'liveness' | 'readiness';
}

function probesOf(where: string, c: IContainer): Probed[] {
  const probe = (name: string, spec: IProbe | undefined): Probed => ({
    where: `${where} ${name}`,
    path: spec?.grpc ? `grpc:${spec.grpc.service ?? ''}` : (spec?.httpGet?.path ?? '(none)'),
    kind: name === 'livenessProbe' ? 'liveness' : 'readiness',
  });
  return [
    probe('livenessProbe', c.livenessProbe),
    probe('readinessProbe', c.readinessProbe),
    // the startup probe stands in for readiness: liveness starts once the model is warm
    probe('startupProbe', c.startupProbe),
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
  let grpc: GrpcServer;
  let health: Client;

  /** 200 / 503 for HTTP; a gRPC probe's SERVING as 200 and NOT_SERVING as 503, as kubelet judges them. */
  async function ask(path: string): Promise<number> {
    if (!path.startsWith('grpc:')) return (await app.inject({ method: 'GET', url: path })).statusCode;
    const outcome = await call<{ status: string }>(health, 'Check', { service: path.slice(5) });
    return outcome.ok && outcome.response.status === 'SERVING' ? 200 : 503;
  }

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
    grpc = await startGrpcServer(app, '127.0.0.1', 0);
    health = new HealthClient(`127.0.0.1:${grpc.port}`, credentials.createInsecure());
  });
  afterAll(async () => {
    health?.close();
    await grpc?.close(1000);
    await app?.close();
  });

  it('every probe and HEALTHCHECK names a path (the list is what the next tests ask)', () => {
    expect(probes).toHaveLength(8);
    expect(probes.filter((p) => p.path === '(none)')).toEqual([]);
    expect(probes.filter((p) => p.path.startsWith('grpc:')).map((p) => p.where)).toEqual([
      'deployment.yaml readinessProbe',
      'kserve/inferenceservice.yaml readinessProbe',
    ]);
  });

  it('all of them answer 200 once the model is warm', async () => {
    for (const { where, path } of probes) expect(await ask(path), `${where} ${path}`).toBe(200);
  });

  it('while draining, readiness checks answer 503 and liveness checks still 200', async () => {
    lifecycle.shuttingDown = true;
    try {
      for (const { where, path, kind } of probes)
        expect(await ask(path), `${where} ${path}`).toBe(kind === 'liveness' ? 200 : 503);
    } finally {
      lifecycle.shuttingDown = false;
    }
  });
});
