// The inference worker dying under the server: only the requests of the batch it held fail
// (503 WORKER_FAILED with Retry-After), every other request gets its right answer, readiness goes
// false while the worker restarts and comes back, and /metrics counts the restart. The app runs
// the real worker wrapped by test/model/runtime/faulty-worker.ts, which exits on cue: after
// computing its next batch, before answering it, or at once.
import { once } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/model/runtime/engine.ts';
import type { Prediction } from '../../src/model/runtime/postprocess.ts';
import {
  expectError,
  expectSamePredictions,
  expectStillServing,
  expectedPredictions,
  fixture,
  goodPng,
  startApp,
} from './helpers.ts';
import { WorkerFaults } from '../model/runtime/worker-faults.ts';

const images = [
  goodPng,
  fixture('landscape-500x375.jpg'),
  fixture('grey-200x150.png'),
  fixture('lossy-400x300.webp'),
  fixture('odd-333x257.png'),
  fixture('palette-300x260.png'),
];
const types = ['image/png', 'image/jpeg', 'image/png', 'image/webp', 'image/png', 'image/png'];

const faults = new WorkerFaults();
let app: FastifyInstance;
let expected: Prediction[][];
beforeAll(async () => {
  // Batches of up to 2 that wait 30 ms for company: six requests make three batches.
  app = await startApp({ MAX_BATCH_SIZE: '2', MAX_BATCH_DELAY_MS: '30' }, { workerModule: faults.workerModule });
  expected = await Promise.all(images.map((bytes) => expectedPredictions(app, bytes, 3)));
});
afterAll(async () => {
  await app?.close();
  faults.close();
});

function engineOf(server: FastifyInstance): Engine {
  const { engine } = server.registry.resolve();
  if (engine === null) throw new Error('engine not started');
  return engine;
}

const classify = (i: number) =>
  app.inject({
    method: 'POST',
    url: '/predict?topk=3',
    payload: images[i],
    headers: { 'content-type': types[i] ?? 'image/png' },
  });

/** The value of a series of the (only) model version: its model and version labels are not spelled out. */
async function metric(name: string): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  return Number(new RegExp(`^${name}\\{model="[^"]+",version="\\d+"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

async function readyStatus(): Promise<number> {
  return (await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode;
}

async function waitUntilReady(): Promise<void> {
  for (let i = 0; i < 200 && (await readyStatus()) !== 200; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('the worker dies in the middle of a batch', { timeout: 30_000 }, () => {
  it('fails only that batch with 503 WORKER_FAILED; the other requests get their right answers', async () => {
    const restartsBefore = await metric('resnet_worker_restarts_total');
    const readiness: boolean[] = [];
    engineOf(app).stats.on('readiness', (ready) => readiness.push(ready));
    await faults.exitAfterNextBatch(70);

    const responses = await Promise.all(images.map((_, i) => classify(i)));
    const failed = responses.flatMap((r, i) => (r.statusCode === 200 ? [] : [i]));
    // The first batch the worker took: one or two requests, depending on how they were batched.
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed.length).toBeLessThanOrEqual(2);
    for (const i of failed) expectError(responses[i]!, 503, 'WORKER_FAILED');
    responses.forEach((response, i) => {
      if (failed.includes(i)) return;
      expectSamePredictions(
        response.json<{ results: { predictions: Prediction[] }[] }>().results[0]?.predictions ?? [],
        expected[i] ?? [],
      );
    });

    expect(readiness).toEqual([false, true]);
    expect(await readyStatus()).toBe(200);
    expect(await metric('resnet_worker_restarts_total')).toBe(restartsBefore + 1);
    expect(await metric('resnet_ready')).toBe(1);
  });

  it('answers the failed requests correctly when they are sent again', async () => {
    const responses = await Promise.all(images.map((_, i) => classify(i)));
    responses.forEach((response, i) => {
      expect(response.statusCode).toBe(200);
      expectSamePredictions(
        response.json<{ results: { predictions: Prediction[] }[] }>().results[0]?.predictions ?? [],
        expected[i] ?? [],
      );
    });
  });

  it('fails a multi-image request whose images span the dead batch as a whole, never half-answered', async () => {
    await faults.exitAfterNextBatch(70);
    const response = await app.inject({
      method: 'POST',
      url: '/predict',
      payload: { images: images.slice(0, 4).map((b) => b.toString('base64')) },
    });
    expectError(response, 503, 'WORKER_FAILED');
    await waitUntilReady();
    await expectStillServing(app);
  });
});

describe('the worker is killed while idle', { timeout: 30_000 }, () => {
  it('reports not ready until the new worker is warm, holds work that arrives meanwhile, then answers it', async () => {
    const engine = engineOf(app);
    const ready = new Promise<void>((resolve) => engine.stats.on('readiness', (r) => r && resolve()));
    const died = once(engine.stats, 'workerRestart');
    faults.exitNow(1);
    await died;
    const readyWhileRestarting = await readyStatus();
    // Accepted before the restart finished or refused with NOT_READY: either way, never a 500.
    const during = await classify(0);
    await ready;
    expect(readyWhileRestarting).toBe(503);
    if (during.statusCode === 200)
      expectSamePredictions(
        during.json<{ results: { predictions: Prediction[] }[] }>().results[0]?.predictions ?? [],
        expected[0] ?? [],
      );
    else expectError(during, 503, 'NOT_READY');
    expect(await readyStatus()).toBe(200);
    await expectStillServing(app);
  });
});
