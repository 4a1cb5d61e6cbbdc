// The soak report's arithmetic: least-squares slope, first-versus-last-minute drift of memory
// (mean of each minute's samples) and latency, and the totals.
import { describe, expect, it } from 'vitest';
import { slope, soakMarkdown, summarizeSoak, type MemorySample, type MinuteWindow } from '../../load/soak/report.ts';

const latency = (p50: number, p99: number) => ({ mean: p50, p50, p90: p99, p99, max: p99 * 2 });
const window = (minute: number, p50: number, p99: number, non2xx = 0, errors = 0): MinuteWindow => ({
  minute,
  requestsPerSecond: 20,
  ok: 1200 - non2xx,
  non2xx,
  errors,
  statusCodes: { 200: 1200 - non2xx },
  latencyMs: latency(p50, p99),
});

describe('slope', () => {
  it('is the least-squares slope, 0 for fewer than two points', () => {
    expect(
      slope([
        [0, 1],
        [1, 3],
        [2, 5],
      ]),
    ).toBeCloseTo(2, 10);
    expect(
      slope([
        [0, 1],
        [1, 2],
        [2, 1],
      ]),
    ).toBeCloseTo(0, 10);
    expect(slope([[5, 5]])).toBe(0);
  });
});

describe('summarizeSoak', () => {
  // RSS grows 10 MiB per minute; heap is flat; samples every 30 s over three minutes.
  const samples: MemorySample[] = Array.from({ length: 6 }, (_, i) => ({
    t: i * 30,
    rssMiB: 500 + (i * 30 * 10) / 60,
    heapUsedMiB: 20,
    externalMiB: 5,
  }));
  const summary = summarizeSoak(samples, [window(0, 100, 400), window(1, 110, 420, 3, 1), window(2, 120, 500)]);

  it('compares the first minute with the last and fits the memory slope per minute', () => {
    expect(summary.rssMiB).toEqual({ first: 502.5, last: 522.5, ratio: 1.04, perMinute: 10 });
    expect(summary.heapUsedMiB).toMatchObject({ first: 20, last: 20, ratio: 1, perMinute: 0 });
  });

  it('reports latency drift and totals', () => {
    expect(summary.p99Ms).toEqual({ first: 400, last: 500, ratio: 1.25 });
    expect(summary).toMatchObject({ requests: 3600, non2xx: 3, errors: 1 });
  });

  it('writes one table row per minute and one per series', () => {
    const md = soakMarkdown({ title: 'Soak', lines: ['x'] }, [window(0, 100, 400)], summary);
    expect(md).toContain('| 1 | 20 | 1200 | 0 | 0 | 100 | 400 | 800 |');
    expect(md).toContain('| server RSS | 502.5 MiB | 522.5 MiB | x1.04 | 10 MiB/min |');
  });
});
