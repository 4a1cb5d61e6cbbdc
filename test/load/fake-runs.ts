// Fake autocannon results and runs for the report and benchmark tests: only the fields the
// summary reads, with numbers chosen so every derived value is easy to check by hand.
import { summarizeCannon, type CannonResultLike } from '../../load/lib/cannon.ts';
import type { RunResult } from '../../load/lib/report.ts';

export function fakeResult(
  connections: number,
  ok: number,
  p99: number,
  codes: Record<string, number> = { 200: ok },
): CannonResultLike {
  const non2xx = Object.entries(codes)
    .filter(([c]) => !c.startsWith('2'))
    .reduce((a, [, n]) => a + n, 0);
  return {
    duration: 10,
    connections,
    latency: { mean: p99 / 2, p50: p99 / 3, p90: p99 / 1.5, p99, max: p99 * 1.2 },
    '2xx': ok,
    non2xx,
    errors: 0,
    timeouts: 0,
    statusCodeStats: Object.fromEntries(Object.entries(codes).map(([c, n]) => [c, { count: n }])),
  };
}

export function fakeRun(
  setting: string,
  connections: number,
  ok: number,
  p99: number,
  codes?: Record<string, number>,
): RunResult {
  return { setting, body: 'multipart', cannon: summarizeCannon(fakeResult(connections, ok, p99, codes), 1) };
}
