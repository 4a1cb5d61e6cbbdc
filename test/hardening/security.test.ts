// Security defaults. Nothing in a request reaches the filesystem or the network: every fs call
// and outgoing connection of this process is recorded while hostile requests (paths, URLs and
// path tricks in model names, file names and images) are served. Security headers on the upload
// page, the docs and every error; CORS off unless configured; logs of the real entry point at
// trace level hold no client bytes.
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadManifest } from '../../src/model/runtime/load-manifest.ts';
import { SVG, multipartBody } from './crafted.ts';
import { expectStillServing, goodPng, startApp } from './helpers.ts';
import { spawnServer } from './spawn.ts';
import { watchFilesystemAndNetwork } from './watch.ts';

const require = createRequire(import.meta.url);

let app: FastifyInstance;
beforeAll(async () => {
  app = await startApp();
});
afterAll(async () => {
  await app?.close();
});

describe('nothing in a request reaches the filesystem or the network', { timeout: 30_000 }, () => {
  it('records an fs read made through an ESM named import (the watch itself works)', async () => {
    const watch = watchFilesystemAndNetwork();
    try {
      await loadManifest(inject('tinyModelPath'));
    } finally {
      watch.stop();
    }
    expect(
      watch.calls.some((call) => call.startsWith('fs.promises.readFile(') && call.includes('tiny-resnet.json')),
    ).toBe(true);
  });

  it('serves hostile names, paths and URLs without one fs call or connection', async () => {
    const json = (images: string[]) => ({ method: 'POST' as const, url: '/predict', payload: { images } });
    const requests = [
      ...[
        '..%2F..%2Fetc%2Fpasswd',
        '..%2Fmodels%2Fresnet50',
        'tiny-resnet',
        'tiny-resnet.onnx',
        '%2Ftmp%2Fx.onnx',
        'file%3A%2F%2F%2Fetc%2Fpasswd',
        'http%3A%2F%2F127.0.0.1%3A1%2Fm',
      ].flatMap((m) => [
        { method: 'GET' as const, url: `/v2/models/${m}` },
        { method: 'GET' as const, url: `/v2/models/${m}/ready` },
        { method: 'POST' as const, url: `/v2/models/${m}/infer`, payload: '{}' },
      ]),
      json(['http://127.0.0.1:1/cat.jpg', 'https://example.com/cat.jpg']),
      json(['/etc/passwd']),
      json([`data:image/svg+xml;base64,${SVG.toString('base64')}`]),
      {
        method: 'POST' as const,
        url: '/predict',
        payload: SVG,
        headers: { 'content-type': 'application/octet-stream' },
      },
      {
        method: 'POST' as const,
        url: '/predict',
        ...multipartBody([{ field: 'image', filename: '/etc/passwd', data: goodPng }]),
      },
      {
        method: 'POST' as const,
        url: '/v2/models/resnet50/infer',
        payload: {
          inputs: [{ name: 'file:///etc/passwd', datatype: 'BYTES', shape: [1], data: ['L2V0Yy9wYXNzd2Q='] }],
        },
      },
    ];
    await app.inject({ method: 'GET', url: '/v2' }); // loads inject's own modules before the watch
    const watch = watchFilesystemAndNetwork();
    let statuses: number[];
    try {
      statuses = [];
      for (const request of requests) statuses.push((await app.inject(request)).statusCode);
    } finally {
      watch.stop();
    }
    expect(watch.calls).toEqual([]);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    await expectStillServing(app);
  });
});

describe('the docs assets, the only files served', { timeout: 10_000 }, () => {
  it('answers traversal attempts 404 (they ended in 500 before) and looks up nothing outside the Swagger UI asset folder', async () => {
    const root = dirname(require.resolve('@fastify/swagger-ui/package.json'));
    const urls = [
      '/docs/static/..%2F..%2F..%2Fpackage.json',
      '/docs/static/%2e%2e/%2e%2e/package.json',
      '/docs/static/..%5C..%5Cpackage.json',
      '/docs/static/%00',
      '/docs/static/....//....//package.json',
      '/docs/static//etc/passwd',
      `/docs/static/${'a'.repeat(5000)}`,
    ];
    await app.inject({ method: 'GET', url: '/docs/static/index.css' });
    const watch = watchFilesystemAndNetwork();
    let statuses: number[];
    try {
      statuses = [];
      for (const url of urls) statuses.push((await app.inject({ method: 'GET', url })).statusCode);
    } finally {
      watch.stop();
    }
    expect(statuses).toEqual(urls.map(() => 404));
    for (const call of watch.calls) {
      const path = /\((.*?)(, |\))/.exec(call)?.[1] ?? '';
      expect(resolve(path).startsWith(`${root}/static/`), call).toBe(true);
    }
  });
});

describe('security headers', { timeout: 10_000 }, () => {
  it('serves the upload page with a CSP that allows only its own hashed script and style, same-origin fetches and no framing', async () => {
    const response = await app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(200);
    const csp = String(response.headers['content-security-policy']);
    expect(csp).toMatch(
      /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]+=*'; style-src 'sha256-[A-Za-z0-9+/]+=*'; /,
    );
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("base-uri 'none'");
    expect(csp).toContain("form-action 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(response.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
    // Every script on the page is inline and hashed: none is loaded from elsewhere.
    expect(response.body).not.toMatch(/<script[^>]+src=/i);
  });

  it('sends the deny-all CSP and nosniff on errors of every kind, as JSON, never HTML', async () => {
    const responses = await Promise.all([
      app.inject({ method: 'GET', url: '/nope<script>' }),
      app.inject({ method: 'POST', url: '/predict', payload: 'x', headers: { 'content-type': 'text/html' } }),
      app.inject({ method: 'GET', url: '/v2/models/%zz' }),
      app.inject({
        method: 'POST',
        url: '/predict?topk=Infinity',
        payload: goodPng,
        headers: { 'content-type': 'image/png' },
      }),
    ]);
    for (const response of responses) {
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(response.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(response.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('sends no CORS headers without CORS_ORIGIN, on answers and on errors, and answers no preflight', async () => {
    const origin = { origin: 'https://evil.example' };
    const responses = await Promise.all([
      app.inject({
        method: 'POST',
        url: '/predict',
        payload: goodPng,
        headers: { 'content-type': 'image/png', ...origin },
      }),
      app.inject({
        method: 'POST',
        url: '/predict',
        payload: 'x',
        headers: { 'content-type': 'text/plain', ...origin },
      }),
      app.inject({
        method: 'OPTIONS',
        url: '/v2/models/resnet50/infer',
        headers: { ...origin, 'access-control-request-method': 'POST' },
      }),
    ]);
    // Without CORS_ORIGIN a preflight is just an OPTIONS request: 405, POST is what the path takes.
    expect(responses.map((r) => r.statusCode)).toEqual([200, 415, 405]);
    for (const r of responses)
      expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it('with CORS_ORIGIN set, allows that origin only and never credentials', async () => {
    const cors = await startApp({ CORS_ORIGIN: 'https://ui.example' });
    try {
      const other = await cors.inject({
        method: 'OPTIONS',
        url: '/predict',
        headers: { origin: 'https://ui.example.evil.example', 'access-control-request-method': 'POST' },
      });
      expect(other.statusCode).toBe(405);
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
      const allowed = await cors.inject({
        method: 'POST',
        url: '/predict',
        payload: goodPng,
        headers: { 'content-type': 'image/png', origin: 'https://ui.example' },
      });
      expect(allowed.headers['access-control-allow-origin']).toBe('https://ui.example');
      expect(allowed.headers['access-control-allow-credentials']).toBeUndefined();
    } finally {
      await cors.close();
    }
  });
});

describe('logs of the real entry point at trace level', { timeout: 90_000 }, () => {
  it('hold no client bytes: no image, base64, file name, tensor data or malformed JSON from any request', async () => {
    const server = spawnServer({ MODEL_PATH: inject('tinyModelPath'), MODEL_NAME: 'resnet50', LOG_LEVEL: 'trace' });
    try {
      const base = `http://127.0.0.1:${await server.port()}`;
      await server.waitForLog('ready');
      const marker = 'Q0xJRU5UQllURVM'; // base64 of "CLIENTBYTES"
      const b64 = goodPng.toString('base64');
      const post = (path: string, body: string | Buffer, type: string, headers: Record<string, string> = {}) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          body,
          headers: { 'content-type': type, ...headers },
          signal: AbortSignal.timeout(10_000),
        }).then(async (r) => (await r.arrayBuffer(), r.status));
      const statuses = [
        await post('/predict', JSON.stringify({ images: [b64] }), 'application/json'),
        await post('/predict', JSON.stringify({ images: [`${marker}${'A'.repeat(64)}!`] }), 'application/json'),
        await post('/predict', `{"images": ["${marker}`, 'application/json'),
        await post('/predict', `{"${marker}": 1}`, 'application/json'),
        await post('/predict', Buffer.concat([Buffer.from(marker), goodPng]), 'image/png'),
        await post('/predict', goodPng, 'image/png'),
        await post(
          '/predict',
          multipartBody([{ field: marker, filename: `${marker}.png`, data: goodPng }]).payload,
          `multipart/form-data; boundary=hardening-boundary-7f3a`,
        ),
        await post('/predict', `--${marker}\r\n`, 'multipart/form-data; boundary=other'),
        await post(
          '/v2/models/resnet50/infer',
          JSON.stringify({ id: marker, inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: [b64] }] }),
          'application/json',
        ),
        await post(
          '/v2/models/resnet50/infer',
          JSON.stringify({ inputs: [{ name: marker, datatype: 'FP32', shape: [1, 3, 224, 224], data: [1.5] }] }),
          'application/json',
        ),
        await post(`/v2/models/${marker}/infer`, '{}', 'application/json'),
        await post('/predict', 'x', `text/${marker}`),
      ];
      expect(statuses).toEqual([200, 400, 400, 400, 415, 200, 200, 400, 200, 400, 404, 415]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const lines = server.logLines();
      expect(lines.filter((l) => l['msg'] === 'request done')).toHaveLength(statuses.length);
      const output = server.output();
      expect(output).not.toContain(marker);
      expect(output).not.toContain(b64.slice(0, 24));
      expect(output).not.toContain('CLIENTBYTES');
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
