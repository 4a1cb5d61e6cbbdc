import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  bucketCounts,
  counterDelta,
  counterDeltaByLabel,
  histogramDelta,
  histogramMean,
  histogramQuantile,
  parsePrometheus,
} from '../../load/lib/prometheus.ts';

const TEXT = `# HELP http_requests_total HTTP requests
# TYPE http_requests_total counter
http_requests_total{method="POST",route="/predict",status_code="200"} 10
http_requests_total{method="POST",route="/predict",status_code="503"} 2
http_requests_total{method="GET",route="/v2/health/live",status_code="200"} 5
# HELP q Queue depth
# TYPE q gauge
q 3
# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.1",route="a"} 1
lat_seconds_bucket{le="1",route="a"} 3
lat_seconds_bucket{le="+Inf",route="a"} 4
lat_seconds_sum{route="a"} 7.5
lat_seconds_count{route="a"} 4
lat_seconds_bucket{le="0.1",route="b"} 2
lat_seconds_bucket{le="1",route="b"} 2
lat_seconds_bucket{le="+Inf",route="b"} 2
lat_seconds_sum{route="b"} 0.1
lat_seconds_count{route="b"} 2
odd_metric{msg="say \\"hi\\", then \\\\ go"} Nan
`;

describe('parsePrometheus', () => {
  it('groups samples into typed families with their labels and values', () => {
    const scrape = parsePrometheus(TEXT);
    expect([...scrape.keys()]).toEqual(['http_requests_total', 'q', 'lat_seconds', 'odd_metric']);
    expect(scrape.get('http_requests_total')?.type).toBe('counter');
    expect(scrape.get('http_requests_total')?.samples).toHaveLength(3);
    expect(scrape.get('q')?.samples[0]).toEqual({ name: 'q', labels: {}, value: 3 });
    const lat = scrape.get('lat_seconds');
    expect(lat?.type).toBe('histogram');
    expect(lat?.samples).toHaveLength(10);
    expect(lat?.samples[2]).toEqual({ name: 'lat_seconds_bucket', labels: { le: '+Inf', route: 'a' }, value: 4 });
  });

  it('unescapes label values and reads NaN, and puts samples after a foreign TYPE in their own untyped family', () => {
    const odd = parsePrometheus(TEXT).get('odd_metric');
    expect(odd?.type).toBe('untyped');
    expect(odd?.samples[0]?.labels).toEqual({ msg: 'say "hi", then \\ go' });
    expect(odd?.samples[0]?.value).toBeNaN();
  });

  it('throws on a line that is not a sample, on malformed labels and on a bad value', () => {
    expect(() => parsePrometheus('not a sample line at all')).toThrow(/Not a Prometheus sample line/);
    expect(() => parsePrometheus('m{a="1" b} 1')).toThrow(/Malformed labels/);
    expect(() => parsePrometheus('m 12abc')).toThrow(/Not a sample value: 12abc/);
  });
});

describe('deltas between two scrapes', () => {
  const before = parsePrometheus(TEXT);
  const after = parsePrometheus(
    TEXT.replace('status_code="200"} 10', 'status_code="200"} 25')
      .replace('status_code="503"} 2', 'status_code="503"} 9')
      .replace('lat_seconds_bucket{le="0.1",route="a"} 1', 'lat_seconds_bucket{le="0.1",route="a"} 2')
      .replace('lat_seconds_bucket{le="1",route="a"} 3', 'lat_seconds_bucket{le="1",route="a"} 8')
      .replace('lat_seconds_bucket{le="+Inf",route="a"} 4', 'lat_seconds_bucket{le="+Inf",route="a"} 10')
      .replace('lat_seconds_sum{route="a"} 7.5', 'lat_seconds_sum{route="a"} 12.5')
      .replace('lat_seconds_count{route="a"} 4', 'lat_seconds_count{route="a"} 10'),
  );

  it('subtracts counters, over all label sets or split by one label', () => {
    expect(counterDelta(before, after, 'http_requests_total')).toBe(22);
    expect(counterDelta(before, after, 'http_requests_total', (l) => l['route'] === '/predict')).toBe(22);
    expect(counterDelta(undefined, after, 'http_requests_total')).toBe(39);
    expect(counterDeltaByLabel(before, after, 'http_requests_total', 'status_code')).toEqual({ '200': 15, '503': 7 });
  });

  it('subtracts histograms bucket by bucket, summed over label sets', () => {
    expect(histogramDelta(before, after, 'lat_seconds')).toEqual({
      name: 'lat_seconds',
      buckets: [
        { le: 0.1, count: 1 },
        { le: 1, count: 5 },
        { le: Number.POSITIVE_INFINITY, count: 6 },
      ],
      count: 6,
      sum: 5,
    });
    expect(histogramDelta(undefined, after, 'lat_seconds', (l) => l['route'] === 'b')?.count).toBe(2);
    expect(histogramDelta(before, after, 'http_requests_total')).toBeUndefined();
    expect(histogramDelta(before, after, 'missing')).toBeUndefined();
  });
});

describe('histogramQuantile (PromQL histogram_quantile semantics)', () => {
  const delta = {
    count: 10,
    buckets: [
      { le: 1, count: 2 },
      { le: 2, count: 6 },
      { le: 4, count: 8 },
      { le: Number.POSITIVE_INFINITY, count: 10 },
    ],
  };

  it('interpolates linearly inside the bucket that holds the rank, from 0 in the lowest bucket', () => {
    expect(histogramQuantile(0.5, delta)).toBeCloseTo(1.75, 12);
    expect(histogramQuantile(0.1, delta)).toBeCloseTo(0.5, 12);
    expect(histogramQuantile(0.7, delta)).toBeCloseTo(3, 12);
  });

  it('returns the highest finite bound for a rank in the +Inf bucket, NaN when empty, and refuses q outside [0,1]', () => {
    expect(histogramQuantile(0.95, delta)).toBe(4);
    expect(histogramQuantile(0.5, { count: 0, buckets: [{ le: 1, count: 0 }] })).toBeNaN();
    expect(() => histogramQuantile(1.5, delta)).toThrow('Expected a quantile from 0 to 1, got 1.5');
  });

  it('gives per-bucket counts and the mean', () => {
    expect(bucketCounts(delta).map((b) => b.count)).toEqual([2, 4, 2, 2]);
    expect(histogramMean({ count: 4, sum: 10 })).toBe(2.5);
    expect(histogramMean({ count: 0, sum: 0 })).toBeNaN();
  });
});

describe('reading what prom-client writes', () => {
  it('round-trips a prom-client histogram and counter into exact deltas', async () => {
    const registry = new Registry();
    const h = new Histogram({
      name: 't_seconds',
      help: 'h',
      buckets: [0.01, 0.1, 1],
      labelNames: ['k'],
      registers: [registry],
    });
    const c = new Counter({ name: 't_total', help: 'c', labelNames: ['reason'], registers: [registry] });
    h.observe({ k: 'x' }, 0.05);
    const before = parsePrometheus(await registry.metrics());
    for (const v of [0.005, 0.05, 0.5, 5]) h.observe({ k: 'y' }, v);
    c.inc({ reason: 'queue_full' }, 3);
    const after = parsePrometheus(await registry.metrics());
    const delta = histogramDelta(before, after, 't_seconds');
    expect(delta?.count).toBe(4);
    expect(delta?.sum).toBeCloseTo(5.555, 9);
    expect(bucketCounts(delta ?? { buckets: [] }).map((b) => b.count)).toEqual([1, 1, 1, 1]);
    expect(counterDeltaByLabel(before, after, 't_total', 'reason')).toEqual({ queue_full: 3 });
  });
});
