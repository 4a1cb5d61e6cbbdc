import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parsePrometheus } from '../../load/lib/prometheus.ts';
import { backlogOf, batchSizeCounts, summarizeServer, waitIdle } from '../../load/lib/server-metrics.ts';
import { modelMetrics } from '../../src/server/classifier/model-metrics.ts';
import { createMetrics } from '../../src/server/plugins/metrics.ts';

describe("summarizeServer on the service's own metrics", () => {
  it('reads batch sizes, queue wait, compute, preprocess, rejections and images for the run only', async () => {
    const registry = createMetrics(8);
    const m = modelMetrics(registry, { model: 'resnet50', version: '1' });
    // Before the run: traffic that must not count.
    m.batchSize.observe(1);
    m.queueWait.observe(3);
    const before = parsePrometheus(await registry.registry.metrics());
    for (const size of [8, 8, 8, 3]) m.batchSize.observe(size);
    for (const s of [0.004, 0.004, 0.02, 0.2]) m.queueWait.observe(s);
    for (const s of [0.3, 0.3, 0.3, 0.1]) m.inference.observe(s);
    m.preprocess.observe(0.008);
    m.endToEnd.observe(0.6);
    for (let i = 0; i < 5; i++) m.rejection('QUEUE_FULL');
    m.imagesClassified('predict', 27);
    const s = summarizeServer(before, parsePrometheus(await registry.registry.metrics()));
    expect(s.batches).toEqual({
      count: 4,
      mean: 6.75,
      distribution: [
        { size: '3', count: 1 },
        { size: '8', count: 3 },
      ],
    });
    expect(s.queueWait?.count).toBe(4);
    expect(s.queueWait?.meanMs).toBeCloseTo(57, 6);
    // Ranks 2 and 3.96 of 4: inside the (0.0025, 0.005] and (0.1, 0.25] buckets.
    expect(s.queueWait?.p50Ms).toBeCloseTo(5, 6);
    expect(s.queueWait?.p99Ms).toBeCloseTo(100 + 150 * 0.96, 6);
    expect(s.compute?.meanMs).toBeCloseTo(250, 6);
    expect(s.preprocess?.count).toBe(1);
    expect(s.endToEnd?.count).toBe(1);
    expect(s.rejections).toEqual({ queue_full: 5 });
    expect(s.imagesClassified).toBe(27);
  });

  it('sums every model version, or reads one model (and version) of a server with several', async () => {
    const registry = createMetrics(8);
    const a = modelMetrics(registry, { model: 'resnet50', version: '1' });
    const b = modelMetrics(registry, { model: 'resnet50', version: '2' });
    const c = modelMetrics(registry, { model: 'resnet18', version: '1' });
    a.batchSize.observe(8);
    b.batchSize.observe(4);
    c.batchSize.observe(2);
    a.rejection('QUEUE_FULL');
    c.rejection('QUEUE_FULL');
    c.rejection('DEADLINE_EXCEEDED');
    a.imagesClassified('predict', 8);
    b.imagesClassified('v2', 4);
    c.imagesClassified('predict', 2);
    const after = parsePrometheus(await registry.registry.metrics());
    expect(summarizeServer(undefined, after)).toMatchObject({
      batches: { count: 3, mean: 14 / 3 },
      rejections: { deadline_exceeded: 1, queue_full: 2 },
      imagesClassified: 14,
    });
    expect(summarizeServer(undefined, after, { model: 'resnet50' })).toMatchObject({
      batches: { count: 2, mean: 6 },
      rejections: { queue_full: 1 },
      imagesClassified: 12,
    });
    expect(summarizeServer(undefined, after, { model: 'resnet50', version: '2' })).toMatchObject({
      batches: { count: 1, mean: 4 },
      rejections: {},
      imagesClassified: 4,
    });
  });

  it('leaves out what a target does not expose', () => {
    expect(summarizeServer(undefined, parsePrometheus('# TYPE other counter\nother 1\n'))).toEqual({});
  });
});

describe('batchSizeCounts', () => {
  it('labels one-size buckets by their size and wider ones by their range, leaving empty buckets out', () => {
    const buckets = [
      { le: 1, count: 2 },
      { le: 2, count: 2 },
      { le: 32, count: 7 },
      { le: 64, count: 10 },
      { le: 128, count: 10 },
      { le: Number.POSITIVE_INFINITY, count: 11 },
    ];
    expect(batchSizeCounts(buckets)).toEqual([
      { size: '1', count: 2 },
      { size: '3-32', count: 5 },
      { size: '33-64', count: 3 },
      { size: '>128', count: 1 },
    ]);
  });
});

describe('waitIdle', () => {
  async function serve(
    handler: (scrapes: number) => Promise<string> | string,
  ): Promise<{ baseUrl: string; scrapes: () => number; close(): Promise<void> }> {
    let scrapes = 0;
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      void Promise.resolve(handler(++scrapes)).then((text) =>
        res.writeHead(200, { 'content-type': 'text/plain' }).end(text),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return {
      baseUrl: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
      scrapes: () => scrapes,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  it('returns once the queue is empty and no batch finished between two scrapes', async () => {
    const registry = createMetrics(8);
    const m = { ...modelMetrics(registry, { model: 'resnet50', version: '1' }), registry: registry.registry };
    m.inference.observe(0.01);
    // Scrapes 1-2: two images queued; 3: queue empty but a batch just finished; 4: nothing new.
    const target = await serve(async (n) => {
      m.queueDepth.set(n <= 2 ? 2 : 0);
      if (n <= 3) m.batchSize.observe(2);
      return m.registry.metrics();
    });
    try {
      expect(backlogOf(parsePrometheus(await m.registry.metrics()))).toMatchObject({ queueDepth: 0, batches: 0 });
      expect(await waitIdle(target.baseUrl, 10_000)).toBe(true);
      expect(target.scrapes()).toBe(4);
    } finally {
      await target.close();
    }
  });

  it('gives up when the time is up or the target has no /metrics', async () => {
    const registry = createMetrics(8);
    const m = { ...modelMetrics(registry, { model: 'resnet50', version: '1' }), registry: registry.registry };
    m.queueDepth.set(5);
    const busy = await serve(() => m.registry.metrics());
    try {
      const started = Date.now();
      expect(await waitIdle(busy.baseUrl, 600)).toBe(false);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(await waitIdle(`${busy.baseUrl}/nothing`, 5000)).toBe(false);
    } finally {
      await busy.close();
    }
  });
});
