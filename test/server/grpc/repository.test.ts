// Triton's repository RPCs over gRPC on a real repository: the index with states and reasons, a
// model that could not load (UNAVAILABLE MODEL_UNAVAILABLE), and load/unload with the REST
// extension's rules: explicit mode only, names only, REPOSITORY_API_TOKEN as `authorization:
// Bearer` metadata, else loopback peers only (a peer on another interface is refused).
import { networkInterfaces } from 'node:os';
import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peerAddress } from '../../../src/server/grpc/inference-service.ts';
import { makeRepository, removeRepository, startRepositoryApp } from '../repository/fixture-repository.ts';
import { float32Le, tensor } from '../v2-client.ts';
import { call, errorCode, withGrpc, type GrpcHarness } from './grpc-client.ts';

const TOKEN = 'grpc-test-token-0123456789';
const bearer = (value: string): Metadata => {
  const metadata = new Metadata();
  metadata.set('authorization', value);
  return metadata;
};
const inferOn = (model: string) => ({
  model_name: model,
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }],
  raw_input_contents: [Buffer.from(float32Le(tensor(1, 2)))],
});
const externalIPv4 = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;

describe('gRPC repository RPCs in explicit mode with a token', { timeout: 90_000 }, () => {
  let root: string;
  let h: GrpcHarness;
  beforeAll(async () => {
    root = makeRepository({
      tiny18: { versions: { '1': 'tiny18' } },
      tiny50: { versions: { '1': 'tiny50' } },
      broken: { versions: { '1': { onnx: Buffer.from('not onnx'), manifest: 'tiny50' } } },
    });
    h = await withGrpc(await startRepositoryApp(root, { MODEL_CONTROL_MODE: 'explicit', REPOSITORY_API_TOKEN: TOKEN }));
  });
  afterAll(async () => {
    await h?.close();
    removeRepository(root);
  });

  it('RepositoryIndex lists every version with its state and reason, and only READY ones when asked', async () => {
    const outcome = await call<{ models: Record<string, string>[] }>(h.client, 'RepositoryIndex', {});
    expect(
      outcome.ok && outcome.response.models.map(({ name, version, state }) => `${name}/${version} ${state}`),
    ).toEqual(['broken/1 UNAVAILABLE', 'tiny18/1 READY', 'tiny50/1 READY']);
    expect(outcome.ok && outcome.response.models[0]!['reason']).toContain('broken/1/model.onnx');
    const ready = await call<{ models: { name: string }[] }>(h.client, 'RepositoryIndex', { ready: true });
    expect(ready.ok && ready.response.models.map((m) => m.name)).toEqual(['tiny18', 'tiny50']);
  });

  it('answers inference on a model that could not load with UNAVAILABLE MODEL_UNAVAILABLE and its reason; ModelReady false', async () => {
    expect(await call(h.client, 'ModelReady', { name: 'broken' })).toEqual({ ok: true, response: { ready: false } });
    const outcome = await call(h.client, 'ModelInfer', inferOn('broken'));
    expect(outcome).toMatchObject({ ok: false, code: status.UNAVAILABLE });
    expect(errorCode(outcome)).toBe('MODEL_UNAVAILABLE');
    expect(outcome.ok || outcome.details).toContain('broken/1/model.onnx');
    expect(await call(h.client, 'ModelInfer', inferOn('tiny18'))).toMatchObject({
      ok: true,
      response: { model_name: 'tiny18' },
    });
  });

  it.each([
    ['no authorization', new Metadata()],
    ['a wrong token', bearer('Bearer not-the-token-at-all')],
    ['the token without its scheme', bearer(TOKEN)],
    ['an empty bearer', bearer('Bearer ')],
  ])('refuses load and unload with %s: UNAUTHENTICATED UNAUTHORIZED', async (_name, metadata) => {
    for (const method of ['RepositoryModelLoad', 'RepositoryModelUnload']) {
      const outcome = await call(h.client, method, { model_name: 'tiny18' }, { metadata });
      expect(outcome).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
      expect(errorCode(outcome)).toBe('UNAUTHORIZED');
    }
  });

  it('refuses a caller that says it is a browser (origin metadata) with PERMISSION_DENIED ORIGIN_REFUSED', async () => {
    const metadata = bearer(`Bearer ${TOKEN}`);
    metadata.set('origin', 'https://evil.example');
    const outcome = await call(h.client, 'RepositoryModelLoad', { model_name: 'tiny18' }, { metadata });
    expect(outcome).toMatchObject({ ok: false, code: status.PERMISSION_DENIED });
    expect(errorCode(outcome)).toBe('ORIGIN_REFUSED');
  });

  it.each([
    ['a path', '../tiny18', 'MODEL_NAME_INVALID', status.INVALID_ARGUMENT],
    ['a URL', 'http://example.com/model', 'MODEL_NAME_INVALID', status.INVALID_ARGUMENT],
    ['an empty name', '', 'MODEL_NAME_INVALID', status.INVALID_ARGUMENT],
    ['a model not in the repository', 'resnet152', 'MODEL_NOT_FOUND', status.NOT_FOUND],
  ])('refuses %s as the model to load', async (_name, model, code, grpcStatus) => {
    const outcome = await call(
      h.client,
      'RepositoryModelLoad',
      { model_name: model },
      { metadata: bearer(`Bearer ${TOKEN}`) },
    );
    expect(outcome).toMatchObject({ ok: false, code: grpcStatus });
    expect(errorCode(outcome)).toBe(code);
  });

  it.each(['config', 'file:1/model.onnx', 'FILE:x'])(
    'refuses the load parameter %s with PARAMETER_NOT_ALLOWED',
    async (key) => {
      const outcome = await call(
        h.client,
        'RepositoryModelLoad',
        { model_name: 'tiny18', parameters: { [key]: { string_param: '{}' } } },
        { metadata: bearer(`Bearer ${TOKEN}`) },
      );
      expect(outcome).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
      expect(errorCode(outcome)).toBe('PARAMETER_NOT_ALLOWED');
    },
  );

  it('unloads and loads a model with the token: the index and inference follow', async () => {
    const metadata = bearer(`Bearer ${TOKEN}`);
    const unload = { model_name: 'tiny18', parameters: { unload_dependents: { bool_param: false } } };
    expect(await call(h.client, 'RepositoryModelUnload', unload, { metadata })).toEqual({ ok: true, response: {} });
    const gone = await call(h.client, 'ModelInfer', inferOn('tiny18'));
    expect(errorCode(gone)).toBe('MODEL_UNAVAILABLE');
    expect(await call(h.client, 'ModelReady', { name: 'tiny18' })).toEqual({ ok: true, response: { ready: false } });
    expect(await call(h.client, 'RepositoryModelLoad', { model_name: 'tiny18' }, { metadata })).toEqual({
      ok: true,
      response: {},
    });
    expect(await call(h.client, 'ModelInfer', inferOn('tiny18'))).toMatchObject({ ok: true });
    expect(await call(h.client, 'ModelReady', { name: 'tiny18' })).toEqual({ ok: true, response: { ready: true } });
  });
});

describe('gRPC load and unload without a token: loopback peers only', { timeout: 90_000 }, () => {
  let root: string;
  let h: GrpcHarness;
  beforeAll(async () => {
    root = makeRepository({ tiny18: { versions: { '1': 'tiny18' } } });
    h = await withGrpc(await startRepositoryApp(root, { MODEL_CONTROL_MODE: 'explicit' }), '0.0.0.0');
  });
  afterAll(async () => {
    await h?.close();
    removeRepository(root);
  });

  it('serves a loopback peer', async () => {
    expect(await call(h.client, 'RepositoryModelLoad', { model_name: 'tiny18' })).toEqual({ ok: true, response: {} });
  });

  it.skipIf(externalIPv4 === undefined)(
    'refuses a peer on another interface with PERMISSION_DENIED LOOPBACK_ONLY, whatever it claims in metadata',
    async () => {
      const { inferenceClient } = await import('./grpc-client.ts');
      const client = inferenceClient(`${externalIPv4}:${h.server.port}`);
      try {
        const metadata = new Metadata();
        metadata.set('x-forwarded-for', '127.0.0.1');
        for (const method of ['RepositoryModelLoad', 'RepositoryModelUnload']) {
          const outcome = await call(client, method, { model_name: 'tiny18' }, { metadata });
          expect(outcome).toMatchObject({ ok: false, code: status.PERMISSION_DENIED });
          expect(errorCode(outcome)).toBe('LOOPBACK_ONLY');
        }
      } finally {
        client.close();
      }
    },
  );

  it("reads the peer's address from grpc-js's peer string", () => {
    expect(peerAddress('127.0.0.1:50123')).toBe('127.0.0.1');
    expect(peerAddress('::1:50123')).toBe('::1');
    expect(peerAddress('::ffff:10.0.0.5:443')).toBe('::ffff:10.0.0.5');
    expect(peerAddress('unknown')).toBeUndefined();
  });
});
