// The assertions every container running the server shares (the Deployment's and KServe's).
import { expect } from 'vitest';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { CONFIG_VARIABLES, loadConfig } from '../../src/server/config.ts';
import { envOf, preStopSleepSeconds } from './load-manifests.ts';

const knownEnv = new Set(Object.values(CONFIG_VARIABLES).map((v) => v.env));

/**
 * Its env is valid server configuration (known names; loadConfig throws ConfigError on a bad value),
 * it listens on 0.0.0.0 at the server's default ports (HTTP, gRPC), probes readiness over gRPC, sizes onnxruntime's pool to its CPU limit, and
 * its pod's grace period covers the preStop sleep plus the server's drain bound.
 */
export function expectServerContainer(c: IContainer, gracePeriodSeconds: number | undefined): void {
  const env = envOf(c);
  expect(Object.keys(env).filter((name) => !knownEnv.has(name))).toEqual([]);
  // loadConfig throws ConfigError on any invalid value
  const config = loadConfig(env, []);
  expect(config.host).toBe('0.0.0.0');
  // HTTP first (KServe maps the first port to its Service's port 80), then gRPC
  expect(c.ports?.map((p) => p.containerPort)).toEqual([config.port, config.grpcPort]);
  expect([config.port, config.grpcPort]).toEqual([loadConfig({}, []).port, loadConfig({}, []).grpcPort]);
  // the readiness probe asks gRPC health checking of the whole server on the gRPC port
  expect(c.readinessProbe?.grpc).toEqual({ port: config.grpcPort, service: '' });
  // onnxruntime's pool sized to the CPU the pod gets, not to the node's cores
  expect(String(config.intraOpThreads)).toBe(String(c.resources?.limits?.cpu));
  expect(c.resources?.requests).toEqual(c.resources?.limits);
  const drainSeconds = config.shutdownTimeoutMs / 1000;
  expect(gracePeriodSeconds).toBeGreaterThanOrEqual(preStopSleepSeconds(c) + drainSeconds + 2);
  expect(preStopSleepSeconds(c)).toBeGreaterThan(0);
  expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
}
