import { describe, expect, it } from 'vitest';
import { parsePrometheus } from '../../load/lib/prometheus.ts';
import { batchSizeCounts, summarizeServer } from '../../load/lib/server-metrics.ts';
import { createMetrics } from '../../src/server/plugins/metrics.ts';

describe('summarizeServer on the service\'s own metrics', () => {
  it('reads batch sizes, queue wait, compute, preprocess, rejections and images for the run only', async () => {
    const m = createMetrics(8);
    // Before the run: traffic that must not count.
    m.batchSize.observe(1);
    m.queueWait.observe(3);
    const before = parsePrometheus(await m.registry.metrics());
    for (const size of [8, 8, 8, 3]) m.batchSize.observe(size);
    for (const s of [0.004, 0.004, 0.02, 0.2]) m.queueWait.observe(s);
    for (const s of [0.3, 0.3, 0.3, 0.1]) m.inference.observe(s);
    m.preprocess.observe(0.008);
    m.endToEnd.observe(0.6);
    m.rejections.inc({ reason: 'queue_full' }, 5);
    m.imagesClassified.inc({ api: 'predict' }, 27);
    const s = summarizeServer(before, parsePrometheus(await m.registry.metrics()));
    expect(s.batches).toEqual({ count: 4, mean: 6.75, distribution: [{ size: '3', count: 1 }, { size: '8', count: 3 }] });
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
