// Readiness, draining and backpressure as clients see them: 503 NOT_READY while the model warms,
// 503 SHUTTING_DOWN while draining, 503 QUEUE_FULL and 504 DEADLINE_EXCEEDED from the engine's
// queue, each with its code (and Retry-After on 503s), in both error formats.
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.ts';
import type { Lifecycle } from '../../src/server/app.ts';
import { expectError, fixture, startApp, testConfig } from './helpers.ts';
import { float32Le, inferRequest, tensor } from './v2-client.ts';

const png = fixture('tiny-120x90.png');
const predictPng = (app: FastifyInstance, headers: Record<string, string> = {}, url = '/predict') =>
  app.inject({ method: 'POST', url, payload: png, headers: { 'content-type': 'image/png', ...headers } });

function expectRetryAfter(response: { headers: Record<string, unknown> }): void {
  expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

describe('while the model is loading', () => {
  it('answers live 200, ready 503 and work 503 NOT_READY with Retry-After, then serves once warm', async () => {
    const app = await buildApp(testConfig());
    try {
      // buildApp returns before the worker has loaded and warmed the model
      expect(app.registry.resolve().state).toBe('LOADING');
      expect(app.registry.resolve().engine).toBeNull();
      expect((await app.inject({ method: 'GET', url: '/v2/health/live' })).statusCode).toBe(200);
      const ready = await app.inject({ method: 'GET', url: '/v2/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.headers['x-error-code']).toBe('NOT_READY');
      const work = await predictPng(app);
      expectError(work, 503, 'NOT_READY');
      expectRetryAfter(work);

      await app.registry.whenStarted();
      expect((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode).toBe(200);
      expect((await predictPng(app)).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('while draining', () => {
  const lifecycle: Lifecycle = { shuttingDown: false };
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await startApp({}, { lifecycle });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('refuses new work with 503 SHUTTING_DOWN, Retry-After and Connection: close; liveness stays 200', async () => {
    expect((await predictPng(app)).statusCode).toBe(200);
    lifecycle.shuttingDown = true;
    const response = await predictPng(app);
    expectError(response, 503, 'SHUTTING_DOWN');
    expectRetryAfter(response);
    expect(response.headers.connection).toBe('close');

    const { payload, headers } = inferRequest({}, [
      { json: { name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }, bytes: float32Le(tensor(1, 1)) },
    ]);
    const v2 = await app.inject({ method: 'POST', url: '/v2/models/resnet50/infer', payload, headers });
    expect(v2.statusCode).toBe(503);
    expect(v2.json()).toEqual({ error: expect.any(String) });
    expect(v2.headers['x-error-code']).toBe('SHUTTING_DOWN');

    expect((await app.inject({ method: 'GET', url: '/v2/health/live' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode).toBe(503);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^resnet_ready\{model="resnet50",version="1"\} 0$/m);
    expect(metrics.body).toMatch(/^resnet_rejections_total\{model="resnet50",version="1",reason="shutting_down"\} 2$/m);
  });
});

describe('queue limits', () => {
  // A batch waits up to 1 s for company, so images pile up in the queue.
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await startApp({ MAX_BATCH_SIZE: '8', MAX_BATCH_DELAY_MS: '1000', MAX_QUEUE: '2' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('answers 503 QUEUE_FULL with Retry-After when a request holds more images than the queue', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/predict',
      payload: { images: Array(3).fill(png.toString('base64')) },
    });
    expectError(response, 503, 'QUEUE_FULL');
    expectRetryAfter(response);
  });

  it('refuses work before reading the body while the queue is full, and serves again once it drains', async () => {
    // Two single-image requests fill the queue (MAX_QUEUE 2); their batch waits 1 s for company.
    const queued = [predictPng(app), predictPng(app)];
    while ((app.registry.resolve().engine?.queueDepth ?? 0) < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    // Not an image at all: had the body been read, this would be 415, not 503.
    const refused = await app.inject({
      method: 'POST',
      url: '/predict',
      payload: Buffer.from('not an image'),
      headers: { 'content-type': 'image/png' },
    });
    expectError(refused, 503, 'QUEUE_FULL');
    expectRetryAfter(refused);
    // A small unread body is dropped after the answer and the connection kept; a large one closes it.
    expect(refused.headers.connection).not.toBe('close');
    const large = await app.inject({
      method: 'POST',
      url: '/predict',
      payload: Buffer.alloc(2 * 1024 * 1024),
      headers: { 'content-type': 'image/png' },
    });
    expectError(large, 503, 'QUEUE_FULL');
    expect(large.headers.connection).toBe('close');
    expect((await Promise.all(queued)).map((r) => r.statusCode)).toEqual([200, 200]);
    expect((await predictPng(app)).statusCode).toBe(200);
  });

  it('refuses images beyond the admission limit before decoding them, and releases every place it took', async () => {
    const { admission } = app.registry.resolve();
    expect(admission.limit).toBe(2 + 8);
    expect(admission.inFlight).toBe(0);
    let taken = 0;
    while (admission.tryAdmit()) taken++;
    try {
      expect(taken).toBe(admission.limit);
      const refused = await app.inject({
        method: 'POST',
        url: '/predict',
        payload: Buffer.from('not an image'),
        headers: { 'content-type': 'image/png' },
      });
      expectError(refused, 503, 'QUEUE_FULL');
      expectRetryAfter(refused);
    } finally {
      for (let i = 0; i < taken; i++) admission.release();
    }
    expect((await predictPng(app)).statusCode).toBe(200);
    const bad = await app.inject({
      method: 'POST',
      url: '/predict',
      payload: Buffer.from('not an image'),
      headers: { 'content-type': 'image/png' },
    });
    expect(bad.statusCode).toBe(415);
    expect(admission.inFlight).toBe(0);
  });

  it('refuses the images of an admitted request past the last place before decoding them', async () => {
    const { admission } = app.registry.resolve();
    let taken = 0;
    while (admission.inFlight < admission.limit - 1 && admission.tryAdmit()) taken++;
    try {
      // One place left: onRequest admits the request, its first image takes the place, and the
      // second (not an image at all: decoded, it would be 415) is refused before it is looked at.
      const response = await app.inject({
        method: 'POST',
        url: '/predict',
        payload: { images: [png.toString('base64'), Buffer.from('not an image').toString('base64')] },
      });
      expectError(response, 503, 'QUEUE_FULL');
    } finally {
      for (let i = 0; i < taken; i++) admission.release();
    }
    expect(admission.inFlight).toBe(0);
  });

  it('answers V2 requests past the queue with 503 and the V2 error shape', async () => {
    const { payload, headers } = inferRequest({}, [
      { json: { name: 'input', datatype: 'FP32', shape: [3, 3, 224, 224] }, bytes: float32Le(tensor(3, 2)) },
    ]);
    const response = await app.inject({ method: 'POST', url: '/v2/models/resnet50/infer', payload, headers });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ error: expect.any(String) });
    expect(response.headers['x-error-code']).toBe('QUEUE_FULL');
    expectRetryAfter(response);
  });

  it('answers 504 DEADLINE_EXCEEDED when the per-request deadline passes in the queue', async () => {
    expectError(await predictPng(app, { 'x-request-timeout-ms': '20' }), 504, 'DEADLINE_EXCEEDED');
    expectError(await predictPng(app, {}, '/predict?timeout_ms=20'), 504, 'DEADLINE_EXCEEDED');
  });

  it('takes the V2 deadline from the timeout parameter in microseconds', async () => {
    const { payload, headers } = inferRequest({ parameters: { timeout: 20_000 } }, [
      { json: { name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }, bytes: float32Le(tensor(1, 3)) },
    ]);
    const response = await app.inject({ method: 'POST', url: '/v2/models/resnet50/infer', payload, headers });
    expect(response.statusCode).toBe(504);
    expect(response.headers['x-error-code']).toBe('DEADLINE_EXCEEDED');
  });

  it('counts the rejections by reason in /metrics', async () => {
    const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(body).toMatch(/^resnet_rejections_total\{model="resnet50",version="1",reason="queue_full"\} [1-9]/m);
    expect(body).toMatch(/^resnet_rejections_total\{model="resnet50",version="1",reason="deadline_exceeded"\} [1-9]/m);
  });
});

describe('a full server pauses before refusing (FULL_WAIT_MS)', () => {
  // The batch waits 1 s for company, so two queued images keep the queue full for about 1 s.
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await startApp({ MAX_BATCH_SIZE: '8', MAX_BATCH_DELAY_MS: '1000', MAX_QUEUE: '2', FULL_WAIT_MS: '500' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('refuses after the pause while still full, and serves a request that finds room after it', async () => {
    const queued = [predictPng(app), predictPng(app)];
    while ((app.registry.resolve().engine?.queueDepth ?? 0) < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    const t0 = performance.now();
    const refused = await predictPng(app);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(490);
    expectError(refused, 503, 'QUEUE_FULL');
    expectRetryAfter(refused);
    // Sent while full; its pause ends after the batch has gone (about 1 s after the first image).
    await new Promise((resolve) => setTimeout(resolve, 200));
    const served = await predictPng(app);
    expect(served.statusCode).toBe(200);
    expect((await Promise.all(queued)).map((r) => r.statusCode)).toEqual([200, 200]);
  });
});

describe('a full server keeps requests in line (FULL_WAIT_MS, MAX_REFUSALS_PER_SECOND, REQUEST_TIMEOUT_MS)', () => {
  // As above: the batch waits 1 s for company, so two queued images keep the model full for about 1 s.
  const fill = async (app: FastifyInstance) => {
    const queued = [
      predictPng(app, { 'x-request-timeout-ms': '5000' }),
      predictPng(app, { 'x-request-timeout-ms': '5000' }),
    ];
    while ((app.registry.resolve().engine?.queueDepth ?? 0) < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    return queued;
  };
  const timed = async (response: ReturnType<typeof predictPng>, t0: number) => {
    const r = await response;
    return { r, ms: performance.now() - t0 };
  };
  const apps: FastifyInstance[] = [];
  const start = async (env: Record<string, string>) => {
    const app = await startApp({ MAX_BATCH_SIZE: '8', MAX_BATCH_DELAY_MS: '1000', MAX_QUEUE: '2', ...env });
    apps.push(app);
    return app;
  };
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });

  it('spreads the refusals: each request already waiting adds 1/MAX_REFUSALS_PER_SECOND to the wait', async () => {
    const app = await start({ FULL_WAIT_MS: '50', MAX_REFUSALS_PER_SECOND: '10' });
    const queued = await fill(app);
    const t0 = performance.now();
    const refused = await Promise.all([0, 1, 2].map(() => timed(predictPng(app), t0)));
    for (const { r } of refused) expectError(r, 503, 'QUEUE_FULL');
    // Waits of 100, 200 and 300 ms (one, two and three waiting at 10/s), not 50 ms each; all before the batch leaves.
    const ms = refused.map((x) => x.ms).sort((a, b) => a - b);
    expect(ms[0]).toBeGreaterThanOrEqual(90);
    expect(ms[1]).toBeGreaterThanOrEqual(190);
    expect(ms[2]).toBeGreaterThanOrEqual(290);
    expect(ms[2]).toBeLessThan(900);
    expect((await Promise.all(queued)).map((r) => r.statusCode)).toEqual([200, 200]);
  });

  it('refuses at once beyond MAX_REFUSALS_PER_SECOND x REQUEST_TIMEOUT_MS waiting requests', async () => {
    // 10/s x 0.3 s: three may wait (100, 200 and 300 ms), a fourth is refused without waiting.
    const app = await start({ FULL_WAIT_MS: '50', MAX_REFUSALS_PER_SECOND: '10', REQUEST_TIMEOUT_MS: '300' });
    const queued = await fill(app);
    const t0 = performance.now();
    const refused = await Promise.all([0, 1, 2, 3].map(() => timed(predictPng(app), t0)));
    for (const { r } of refused) expectError(r, 503, 'QUEUE_FULL');
    const ms = refused.map((x) => x.ms).sort((a, b) => a - b);
    expect(ms[0]).toBeLessThan(80);
    expect(ms[1]).toBeGreaterThanOrEqual(90);
    expect((await Promise.all(queued)).map((r) => r.statusCode)).toEqual([200, 200]);
  });

  it('serves a waiting request as soon as room frees, long before its wait ends', async () => {
    const app = await start({ FULL_WAIT_MS: '10000' });
    const queued = await fill(app);
    const t0 = performance.now();
    const waiting = [timed(predictPng(app), t0), timed(predictPng(app), t0)];
    const served = await Promise.all(waiting);
    expect(served.map((x) => x.r.statusCode)).toEqual([200, 200]);
    // Room comes when the batch leaves (about 1 s after the first queued image), not after 10 s.
    for (const { ms } of served) expect(ms).toBeLessThan(6000);
    expect((await Promise.all(queued)).map((r) => r.statusCode)).toEqual([200, 200]);
  });

  it('takes a request whose client goes away out of the line', async () => {
    const app = await start({ FULL_WAIT_MS: '10000' });
    const queued = await fill(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const headers = { 'content-type': 'image/png', 'content-length': String(png.length) };
    const gone = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/predict', headers });
    gone.on('error', () => undefined);
    gone.end(png);
    const line = () => app.registry.resolve().admission.waiting;
    while (line() < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    gone.destroy();
    const t0 = performance.now();
    while (line() > 0 && performance.now() - t0 < 2000) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(line()).toBe(0);
    expect((await Promise.all(queued)).map((r) => r.statusCode)).toEqual([200, 200]);
  });

  it('waits at most REQUEST_TIMEOUT_MS, and a draining server ends every wait with SHUTTING_DOWN', async () => {
    const app = await start({ FULL_WAIT_MS: '10000', REQUEST_TIMEOUT_MS: '300' });
    const queued = await fill(app);
    let t0 = performance.now();
    const capped = await timed(predictPng(app), t0);
    expectError(capped.r, 503, 'QUEUE_FULL');
    expect(capped.ms).toBeGreaterThanOrEqual(290);
    expect(capped.ms).toBeLessThan(900);

    const draining = await start({ FULL_WAIT_MS: '10000' });
    const held = await fill(draining);
    t0 = performance.now();
    const waiting = timed(predictPng(draining), t0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = draining.close();
    const woken = await waiting;
    expectError(woken.r, 503, 'SHUTTING_DOWN');
    expect(woken.ms).toBeLessThan(900);
    await closed;
    apps.splice(apps.indexOf(draining), 1);
    expect((await Promise.all([...queued, ...held])).map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
  });
});
