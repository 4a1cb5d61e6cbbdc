import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latencyStats, runCannon, summarizeCannon } from '../../load/lib/cannon.ts';
import { buildRequest } from '../../load/lib/bodies.ts';
import { fakeResult } from './fake-runs.ts';

describe('summarizeCannon', () => {
  it('counts images from 2xx responses only, times the images per request', () => {
    const s = summarizeCannon(fakeResult(32, 400, 900, { 200: 400, 503: 100, 504: 5 }), 4);
    expect(s).toMatchObject({
      connections: 32,
      durationS: 10,
      responses: 505,
      ok: 400,
      non2xx: 105,
      statusCodes: { 200: 400, 503: 100, 504: 5 },
    });
    expect(s.imagesPerSecond).toBe(160);
    expect(s.requestsPerSecond).toBe(50.5);
    expect(s.latencyMs).toEqual({ mean: 450, p50: 300, p90: 600, p99: 900, max: 1080 });
  });

  it("divides by the active seconds when given, instead of autocannon's tick-rounded duration", () => {
    const s = summarizeCannon(fakeResult(2, 40, 100), 1, 0.5);
    expect([s.durationS, s.imagesPerSecond]).toEqual([0.5, 80]);
    expect(summarizeCannon(fakeResult(2, 40, 100), 1, 0).durationS).toBe(10);
  });

  it('reports zero rates for a run that lasted no time', () => {
    const s = summarizeCannon({ ...fakeResult(1, 0, 0, {}), duration: 0 }, 1);
    expect([s.imagesPerSecond, s.requestsPerSecond, s.responses]).toEqual([0, 0, 0]);
  });
});

describe('latencyStats', () => {
  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(latencyStats(values)).toEqual({ mean: 50.5, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(latencyStats([7])).toEqual({ mean: 7, p50: 7, p90: 7, p99: 7, max: 7 });
    expect(latencyStats([]).p99).toBeNaN();
  });
});

describe('runCannon against a real local server', () => {
  let server: Server;
  let baseUrl = '';
  const seen: { method: string; url: string; type: string; length: number }[] = [];
  /** The server's own time per request, from its arrival to the last byte of the answer. */
  const handled: { status: number; ms: number }[] = [];
  // A POST's 503 without Retry-After is answered this late: a latency floor the client cannot beat.
  const SLOW_MS = 25;
  let n = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const arrived = performance.now();
      res.on('finish', () => handled.push({ status: res.statusCode, ms: performance.now() - arrived }));
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          type: req.headers['content-type'] ?? '',
          length: Buffer.concat(chunks).length,
        });
        // Every third request: 503 with Retry-After; every fifth (not third): 503 without it.
        n++;
        if (n % 3 === 0) res.writeHead(503, { 'Retry-After': '1' }).end('{}');
        else if (n % 5 === 0 && req.method === 'POST') setTimeout(() => res.writeHead(503).end('{}'), SLOW_MS);
        else if (n % 5 === 0) res.writeHead(503).end('{}');
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends exactly --amount prepared requests and counts 503s without Retry-After', async () => {
    const request = buildRequest('raw', {
      image: Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]),
      imageName: 'x.jpg',
      imagesPerRequest: 1,
      modelName: 'm',
    });
    const before = seen.length;
    const handledBefore = handled.length;
    n = 0;
    const run = await runCannon({ baseUrl, request, connections: 1, amount: 30, maxSeconds: 20, timeoutS: 5 });
    const mine = seen.slice(before);
    expect(mine).toHaveLength(30);
    expect(
      mine.every(
        (r) => r.method === 'POST' && r.url === '/predict?topk=5' && r.type === 'image/jpeg' && r.length === 6,
      ),
    ).toBe(true);
    // Of 1..30: 10 multiples of 3; multiples of 5 that are not of 3: 5, 10, 20, 25 -> 4.
    expect(run.summary.statusCodes).toEqual({ 200: 16, 503: 14 });
    expect(run.summary.ok).toBe(16);
    expect(run.unavailableWithoutRetryAfter).toBe(4);
    expect(Object.keys(run.latencyByClassMs)).toEqual(['2xx', '5xx']);
    // Each class's client-side latencies hold the server's own time for that class: the slowest
    // answer of each class arrives no sooner than the server took to send it.
    const serverMax = (cls: number) =>
      Math.max(...handled.slice(handledBefore).flatMap((h) => (Math.floor(h.status / 100) === cls ? [h.ms] : [])));
    expect(serverMax(5)).toBeGreaterThanOrEqual(SLOW_MS - 1);
    expect(run.latencyByClassMs['5xx']?.max).toBeGreaterThanOrEqual(serverMax(5));
    expect(run.latencyByClassMs['2xx']?.max).toBeGreaterThanOrEqual(serverMax(2));
    // 30 quick local requests end well before autocannon's first one-second tick.
    expect(run.summary.durationS).toBeLessThan(0.9);
    expect(run.summary.requestsPerSecond).toBeCloseTo(30 / run.summary.durationS, 6);
  });

  it('stops an amount run at its time cap', async () => {
    const started = performance.now();
    const run = await runCannon({
      baseUrl,
      request: { method: 'GET', path: '/h', images: 0 },
      connections: 2,
      amount: 200_000,
      maxSeconds: 1,
      timeoutS: 5,
    });
    const seconds = (performance.now() - started) / 1000;
    expect(seconds).toBeLessThan(4);
    expect(run.summary.responses).toBeGreaterThan(0);
    expect(run.summary.responses).toBeLessThan(200_000);
  });

  it('keeps to an overall rate', async () => {
    const run = await runCannon({
      baseUrl,
      request: { method: 'GET', path: '/h', images: 0 },
      connections: 1,
      overallRate: 10,
      durationS: 1,
      maxSeconds: 5,
      timeoutS: 5,
    });
    expect(run.summary.responses).toBeGreaterThanOrEqual(5);
    expect(run.summary.responses).toBeLessThanOrEqual(12);
  });
});
