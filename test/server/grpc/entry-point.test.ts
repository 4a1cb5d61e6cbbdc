// The gRPC listener of the real entry point (src/server/main.ts in a child process): GRPC_PORT
// off, a port in use, and SIGTERM with gRPC calls in they finish with the model's answer, calls made after the signal get UNAVAILABLE
// (SHUTTING_DOWN while the listener drains, or a refused connection once it has closed), health
// turns NOT_SERVING, and the process exits 0 within SHUTDOWN_TIMEOUT_MS.
import { createServer } from 'node:net';
import { credentials, status } from '@grpc/grpc-js';
import { describe, expect, inject, it } from 'vitest';
import { spawnServer } from '../../hardening/spawn.ts';
import { float32Le, tensor } from '../v2-client.ts';
import { call, errorCode, HealthClient, inferenceClient, type Outcome } from './grpc-client.ts';

const request = (seed: number) => ({
  model_name: 'resnet50',
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }],
  raw_input_contents: [Buffer.from(float32Le(tensor(1, seed)))],
});

describe('SIGTERM with gRPC calls in flight', { timeout: 90_000 }, () => {
  it('finishes them, answers new calls UNAVAILABLE, reports NOT_SERVING and exits 0 in bounds', async () => {
    const shutdownTimeoutMs = 10_000;
    const server = spawnServer({
      MODEL_PATH: inject('tinyModelPath'),
      MODEL_NAME: 'resnet50',
      GRPC_PORT: '0',
      // Batches wait 1 s for company, so the calls are queued when the signal comes.
      MAX_BATCH_SIZE: '8',
      MAX_BATCH_DELAY_MS: '1000',
      SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
      LOG_LEVEL: 'info',
    });
    try {
      await server.waitForLog('ready');
      const { port } = (await server.waitForLog('grpc listening')) as { port: number };
      const client = inferenceClient(`127.0.0.1:${port}`);
      const health = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
      expect(await call(health, 'Check', { service: '' })).toMatchObject({ response: { status: 'SERVING' } });
      const inFlight = [1, 2, 3].map((seed) => call(client, 'ModelInfer', request(seed)));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const signalledAt = Date.now();
      server.child.kill('SIGTERM');
      await server.waitForLog('draining');
      const during = await call(client, 'ModelInfer', request(4));
      const healthDuring = await call(health, 'Check', { service: '' });
      const finished = await Promise.all(inFlight);
      const { code } = await server.exited;
      const after: Outcome = await call(client, 'ServerLive', {}, { deadlineMs: 2000 });
      client.close();
      health.close();

      expect(code).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThan(shutdownTimeoutMs);
      for (const outcome of finished) expect(outcome).toMatchObject({ ok: true, response: { model_name: 'resnet50' } });
      expect(during).toMatchObject({ ok: false, code: status.UNAVAILABLE });
      expect(errorCode(during)).toBe('SHUTTING_DOWN');
      expect(healthDuring).toMatchObject({ ok: true, response: { status: 'NOT_SERVING' } });
      expect(after).toMatchObject({ ok: false, code: status.UNAVAILABLE });
      expect(server.logLines().some((l) => l['msg'] === 'drained')).toBe(true);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});

describe('GRPC_PORT', { timeout: 90_000 }, () => {
  it('off: no gRPC listener, REST serves', async () => {
    const server = spawnServer({ MODEL_PATH: inject('tinyModelPath'), GRPC_PORT: 'off', LOG_LEVEL: 'info' });
    try {
      const port = await server.port();
      await server.waitForLog('ready');
      expect(server.logLines().some((l) => l['msg'] === 'grpc listening')).toBe(false);
      expect((await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status).toBe(200);
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('a port in use: exit code 1 with a message naming GRPC_PORT', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const server = spawnServer({ MODEL_PATH: inject('tinyModelPath'), GRPC_PORT: String(port) });
      expect((await server.exited).code).toBe(1);
      expect(server.output()).toContain(`gRPC cannot listen on 127.0.0.1:${port} (GRPC_PORT; off disables it)`);
    } finally {
      taken.close();
    }
  });
});
