// The app on a real socket (127.0.0.1, a free port): multipart from fetch's FormData, a chunked
// raw body, a slow client cut off with 408 REQUEST_TIMEOUT, a slow model that is not, and a
// client that disconnects while its image is queued (cancelled, never computed).
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSamePredictions, expectedPredictions, fixture, startApp } from './helpers.ts';

const jpeg = fixture('landscape-500x375.jpg');
const png = fixture('tiny-120x90.png');

let app: FastifyInstance;
let base: string;
let port: number;
beforeAll(async () => {
  // Batches wait up to 800 ms for company: longer than the 500 ms a client has to send its body.
  app = await startApp({ BODY_TIMEOUT_MS: '500', MAX_BATCH_DELAY_MS: '800', MAX_BATCH_SIZE: '4' });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(base).port);
});
afterAll(async () => {
  await app?.close();
});

async function metric(series: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('over a real socket', () => {
  it('classifies a multipart upload from fetch FormData', async () => {
    const form = new FormData();
    form.append('image', new Blob([jpeg], { type: 'image/jpeg' }), 'photo.jpg');
    form.append('image', new Blob([png], { type: 'image/png' }), 'small.png');
    const response = await fetch(`${base}/predict?topk=3`, { method: 'POST', body: form });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      results: { name: string; predictions: { index: number; label: string; score: number }[] }[];
    };
    expect(body.results.map((r) => r.name)).toEqual(['photo.jpg', 'small.png']);
    expectSamePredictions(body.results[0]!.predictions, await expectedPredictions(app, jpeg, 3));
  });

  it('reads a chunked raw body', async () => {
    const chunks = Readable.from([jpeg.subarray(0, 10_000), jpeg.subarray(10_000)]);
    const response = await fetch(`${base}/predict`, {
      method: 'POST',
      body: Readable.toWeb(chunks) as ReadableStream,
      headers: { 'content-type': 'image/jpeg' },
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(200);
  });

  it('answers a client that stops sending its body with 408 REQUEST_TIMEOUT and closes the connection', async () => {
    const started = Date.now();
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          `POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`,
        );
        socket.write(jpeg.subarray(0, 100));
      });
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('utf8')));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    const elapsed = Date.now() - started;
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(reply).toContain('"code":"REQUEST_TIMEOUT"');
    expect(reply).toMatch(/^X-Error-Code: REQUEST_TIMEOUT\r?$/m);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(5000);
  });

  it('does not time out a request whose body arrived but whose batch takes longer than BODY_TIMEOUT_MS', async () => {
    const started = Date.now();
    const response = await fetch(`${base}/predict`, {
      method: 'POST',
      body: png,
      headers: { 'content-type': 'image/png' },
    });
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
  });

  it('cancels a queued image when its client disconnects: counted as cancelled, never computed', async () => {
    const model = 'model="resnet50",version="1"';
    const batchesBefore = await metric(`resnet_batch_size_count{${model}}`);
    const cancelledBefore = await metric(`resnet_rejections_total{${model},reason="cancelled"}`);
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/predict',
      headers: { 'content-type': 'image/png' },
    });
    req.on('error', () => {});
    req.end(png);
    await until(async () => (await metric(`resnet_queue_depth{${model}}`)) === 1, 5000);
    req.destroy();
    await until(
      async () => (await metric(`resnet_rejections_total{${model},reason="cancelled"}`)) === cancelledBefore + 1,
      5000,
    );
    expect(await metric(`resnet_queue_depth{${model}}`)).toBe(0);
    // the batch delay has passed; nothing was dispatched for the cancelled image
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(await metric(`resnet_batch_size_count{${model}}`)).toBe(batchesBefore);
  });
});
