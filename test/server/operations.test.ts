// Operations around the API: Prometheus metrics, the OpenAPI document and Swagger UI, request ids
// and the one log line per request, security headers, CORS, and the weights notice.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { METRIC_NAMES } from '../../src/server/plugins/metrics.ts';
import { MAX_TOPK } from '../../src/server/routes/schemas.ts';
import { fixture, jsonLog, multipart, startApp } from './helpers.ts';

const png = fixture('tiny-120x90.png');
const { lines: logLines, stream: logStream } = jsonLog();

let app: FastifyInstance;
beforeAll(async () => {
  app = await startApp({ LOG_LEVEL: 'info' }, { logStream });
});
afterAll(async () => {
  await app?.close();
});

function sample(metrics: string, series: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series}`);
  return Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  it('counts requests, images, queue, batches and stage durations after a two-image request', async () => {
    const body = multipart([
      { field: 'image', filename: 'a.png', data: png },
      { field: 'image', filename: 'b.png', data: png },
    ]);
    expect(
      (await app.inject({ method: 'POST', url: '/predict', payload: body.payload, headers: body.headers })).statusCode,
    ).toBe(200);
    await app.inject({ method: 'GET', url: '/not-here' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = response.body;
    expect(sample(m, `${METRIC_NAMES.httpRequests}{method="POST",route="/predict",status_code="200"}`)).toBe(1);
    expect(sample(m, `${METRIC_NAMES.httpRequests}{method="GET",route="unmatched",status_code="404"}`)).toBe(1);
    expect(sample(m, `${METRIC_NAMES.httpDuration}_count{method="POST",route="/predict",status_code="200"}`)).toBe(1);
    // every resnet_* series is labelled by model and version
    const model = 'model="resnet50",version="1"';
    expect(sample(m, `${METRIC_NAMES.imagesClassified}{${model},api="predict"}`)).toBe(2);
    expect(sample(m, `${METRIC_NAMES.preprocess}_count{${model}}`)).toBe(2);
    expect(sample(m, `${METRIC_NAMES.queueWait}_count{${model}}`)).toBe(2);
    expect(sample(m, `${METRIC_NAMES.endToEnd}_count{${model}}`)).toBe(2);
    expect(sample(m, `${METRIC_NAMES.batchSize}_sum{${model}}`)).toBe(2);
    expect(sample(m, `${METRIC_NAMES.inference}_count{${model}}`)).toBe(
      sample(m, `${METRIC_NAMES.batchSize}_count{${model}}`),
    );
    // one worker observation per batch; writing two crops' input takes time, the timings are >= 0
    for (const series of [METRIC_NAMES.workerInput, METRIC_NAMES.workerTransfer]) {
      expect(sample(m, `${series}_count{${model}}`)).toBe(sample(m, `${METRIC_NAMES.batchSize}_count{${model}}`));
      expect(sample(m, `${series}_sum{${model}}`)).toBeGreaterThanOrEqual(0);
    }
    expect(sample(m, `${METRIC_NAMES.workerInput}_sum{${model}}`)).toBeGreaterThan(0);
    expect(sample(m, `${METRIC_NAMES.queueDepth}{${model}}`)).toBe(0);
    expect(sample(m, `${METRIC_NAMES.workerRestarts}{${model}}`)).toBe(0);
    expect(sample(m, `${METRIC_NAMES.ready}{${model}}`)).toBe(1);
    expect(sample(m, `${METRIC_NAMES.modelInfo}{${model},weights="seeded",classes="10"}`)).toBe(1);
    // one bucket per batch size up to MAX_BATCH_SIZE (4 in tests)
    expect(m).toContain(`${METRIC_NAMES.batchSize}_bucket{le="4",${model}}`);
    expect(m).toContain('process_resident_memory_bytes');
  });
});

describe('request ids and logs', () => {
  it('logs one line per request with its id, route, status and image count, never image bytes', async () => {
    logLines.length = 0;
    const response = await app.inject({
      method: 'POST',
      url: '/predict',
      payload: { images: [png.toString('base64')] },
      headers: { 'x-request-id': 'trace-42' },
    });
    expect(response.headers['x-request-id']).toBe('trace-42');
    await new Promise((resolve) => setImmediate(resolve));
    const lines = logLines.filter((l) => l['reqId'] === 'trace-42');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'request done',
      method: 'POST',
      route: '/predict',
      statusCode: 200,
      images: 1,
    });
    expect(JSON.stringify(logLines)).not.toContain(png.toString('base64').slice(0, 40));
  });

  it('logs the error code of a failed request and replaces unsafe incoming ids', async () => {
    logLines.length = 0;
    const response = await app.inject({
      method: 'POST',
      url: '/predict',
      payload: 'x',
      headers: { 'content-type': 'text/plain', 'x-request-id': 'bad id <script>' },
    });
    const id = response.headers['x-request-id'] as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await new Promise((resolve) => setImmediate(resolve));
    expect(logLines.filter((l) => l['reqId'] === id)).toEqual([
      expect.objectContaining({ statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' }),
    ]);
  });
});

describe('security headers and CORS', () => {
  it('sends nosniff, no-referrer, DENY framing and a deny-all CSP on API responses, and no CORS headers by default', async () => {
    const response = await app.inject({ method: 'GET', url: '/v2', headers: { origin: 'https://elsewhere.example' } });
    expect(response.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    });
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect(
      (
        await app.inject({
          method: 'OPTIONS',
          url: '/predict',
          headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' },
        })
      ).statusCode,
    ).toBe(405);
  });

  it('with CORS_ORIGIN set, answers preflights and allows that origin only', async () => {
    const cors = await startApp({ CORS_ORIGIN: 'https://ui.example' });
    try {
      const preflight = await cors.inject({
        method: 'OPTIONS',
        url: '/predict',
        headers: { origin: 'https://ui.example', 'access-control-request-method': 'POST' },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('https://ui.example');
      expect(preflight.headers['access-control-allow-methods']).toContain('POST');
      expect(preflight.headers['access-control-allow-headers']).toContain('inference-header-content-length');
      const allowed = await cors.inject({ method: 'GET', url: '/v2', headers: { origin: 'https://ui.example' } });
      expect(allowed.headers['access-control-allow-origin']).toBe('https://ui.example');
      expect(allowed.headers['access-control-expose-headers']).toContain('x-error-code');
      const other = await cors.inject({ method: 'GET', url: '/v2', headers: { origin: 'https://evil.example' } });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await cors.close();
    }
  });
});

describe('docs', () => {
  it('serves an OpenAPI document built from the route schemas', async () => {
    const response = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json<{
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          { parameters?: { name: string; schema: { maximum?: number } }[]; requestBody?: { content: object } }
        >
      >;
    }>();
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/predict', '/v2', '/v2/health/ready', '/v2/models/{model}/infer']),
    );
    const predict = doc.paths['/predict']!['post']!;
    // topk is checked against the model's own classes (several models may be served): the schema
    // bounds it by the most classes a model can have.
    expect(predict.parameters!.find((p) => p.name === 'topk')!.schema.maximum).toBe(MAX_TOPK);
    expect(predict.parameters!.map((p) => p.name)).toEqual(expect.arrayContaining(['model', 'version']));
    expect(Object.keys(predict.requestBody!.content)).toEqual(
      expect.arrayContaining(['application/json', 'multipart/form-data', 'image/jpeg', 'application/octet-stream']),
    );
  });

  it('serves Swagger UI at /docs with its own assets', async () => {
    const page = await app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const asset = /src="\.\/(static\/[^"]+\.js)"/.exec(page.body)?.[1];
    expect(asset).toBeDefined();
    expect((await app.inject({ method: 'GET', url: `/docs/${asset}` })).statusCode).toBe(200);
  });
});

describe('the weights notice follows the manifest', () => {
  let dir: string;
  let trained: FastifyInstance;
  beforeAll(async () => {
    // A copy of the tiny model whose manifest says its weights are trained.
    dir = mkdtempSync(join(tmpdir(), 'trained-'));
    copyFileSync(inject('tinyModelPath'), join(dir, 'model.onnx'));
    const manifest = JSON.parse(readFileSync(inject('tinyManifestPath'), 'utf8')) as { weights: object };
    writeFileSync(
      join(dir, 'model.json'),
      JSON.stringify({ ...manifest, weights: { kind: 'safetensors', trained: true, file: 'w.safetensors' } }),
    );
    trained = await startApp({ MODEL_PATH: join(dir, 'model.onnx') });
  });
  afterAll(async () => {
    await trained?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('seeded: /predict carries the warning and the page shows the note', async () => {
    const predict = await app.inject({
      method: 'POST',
      url: '/predict',
      payload: png,
      headers: { 'content-type': 'image/png' },
    });
    expect(predict.json()).toMatchObject({ weights: 'seeded', warning: expect.stringContaining('meaningless') });
    expect((await app.inject({ method: 'GET', url: '/' })).body).toContain('id="seeded-note"');
  });

  it('trained: no warning and no note', async () => {
    const predict = await trained.inject({
      method: 'POST',
      url: '/predict',
      payload: png,
      headers: { 'content-type': 'image/png' },
    });
    expect(predict.json()).toMatchObject({ weights: 'trained' });
    expect(predict.json()).not.toHaveProperty('warning');
    expect((await trained.inject({ method: 'GET', url: '/' })).body).not.toContain('seeded-note');
  });
});
