// grpc.health.v1.Health through a grpc-js client: the whole server ("" and the inference
// service's name) and each model by name, NOT_FOUND for an unknown service, NOT_SERVING once
// draining starts, and Watch streams told of the change.
import { credentials, status, type Client, type ClientReadableStream } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lifecycle } from '../../../src/server/app.ts';
import { call, HealthClient, startGrpcApp, type GrpcHarness } from './grpc-client.ts';

describe('gRPC health checking', { timeout: 60_000 }, () => {
  const lifecycle: Lifecycle = { shuttingDown: false };
  let h: GrpcHarness;
  let health: Client;
  beforeAll(async () => {
    h = await startGrpcApp({}, { lifecycle });
    health = new HealthClient(h.address, credentials.createInsecure());
  });
  afterAll(async () => {
    health?.close();
    await h?.close();
  });

  it.each(['', 'inference.GRPCInferenceService', 'resnet50'])(
    'Check(%j) is SERVING once the model is warm',
    async (service) => {
      expect(await call(health, 'Check', { service })).toEqual({ ok: true, response: { status: 'SERVING' } });
    },
  );

  it('Check of an unknown service is NOT_FOUND', async () => {
    expect(await call(health, 'Check', { service: 'resnet51' })).toMatchObject({ ok: false, code: status.NOT_FOUND });
  });

  it('turns NOT_SERVING at once when draining starts, and Watch streams hear it', async () => {
    const stream = (health as unknown as Record<string, (r: object) => ClientReadableStream<{ status: string }>>)[
      'Watch'
    ]!.call(health, { service: '' });
    const seen: string[] = [];
    stream.on('data', (message: { status: string }) => seen.push(message.status));
    stream.on('error', () => {});
    const until = async (wanted: string) => {
      const end = Date.now() + 5000;
      while (!seen.includes(wanted) && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    await until('SERVING');
    lifecycle.shuttingDown = true;
    try {
      for (const service of ['', 'resnet50'])
        expect(await call(health, 'Check', { service })).toEqual({ ok: true, response: { status: 'NOT_SERVING' } });
      await until('NOT_SERVING');
      expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
    } finally {
      lifecycle.shuttingDown = false;
      stream.cancel();
    }
  });
});
