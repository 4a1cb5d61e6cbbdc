import { describe, expect, it } from 'vitest';
import { formatLine, measurementMarkdown, passes, ratioOf, type Line } from '../../load/bench/service/common.ts';
import { batchingLines } from '../../load/bench/service/batching.ts';
import { instanceLines, type InstanceRound } from '../../load/bench/service/instances.ts';
import {
  cpuPer503,
  goodputLine,
  overloadLines,
  refusalCostLines,
  roundOrder,
  saturation,
} from '../../load/bench/service/overload.ts';
import type { CannonRun } from '../../load/lib/cannon.ts';
import {
  cpuLines,
  cpuPerImageMs,
  httpFirst,
  windowOrder,
  httpVsEngineMeasurement,
  pairedRatios,
} from '../../load/bench/service/http-vs-engine.ts';
import { median, medianInterval } from '../../load/lib/stats.ts';
import { parseCpuSeconds, startFlags } from '../../load/lib/server.ts';
import { fakeRun } from './fake-runs.ts';
import { beforeAfterLines } from '../../load/bench/service/cpu-per-image.ts';

describe('lines, ratios and verdicts', () => {
  const http: Line = {
    name: 'images/s',
    value: 27,
    unit: 'images/s',
    baseline: { name: 'raw engine', value: 30 },
    target: { comparison: '>=', bound: 0.9 },
  };

  it('compares the ratio against the target when there is a baseline, else the value', () => {
    expect(ratioOf(http)).toBeCloseTo(0.9, 12);
    expect(passes(http)).toBe(true);
    expect(passes({ ...http, value: 26.9 })).toBe(false);
    expect(passes({ name: 'p99', value: 49.9, unit: 'ms', target: { comparison: '<', bound: 50 } })).toBe(true);
    expect(passes({ name: 'p99', value: 50, unit: 'ms', target: { comparison: '<', bound: 50 } })).toBe(false);
    expect(passes({ name: 'n', value: 0, unit: '', target: { comparison: '<=', bound: 0 } })).toBe(true);
    expect(passes({ name: 'p99', value: Number.NaN, unit: 'ms', target: { comparison: '<', bound: 50 } })).toBe(false);
    expect(passes({ name: 'info', value: 1, unit: '' })).toBeUndefined();
  });

  it('prints value, baseline, ratio and verdict on one line, and a Markdown table per measurement', () => {
    expect(formatLine(http)).toBe(
      'images/s: 27.0 images/s vs raw engine 30.0 images/s = ratio 0.900 (target ratio >= 0.9: PASS)',
    );
    expect(formatLine({ name: 'health p99', value: 61.25, unit: 'ms', target: { comparison: '<', bound: 50 } })).toBe(
      'health p99: 61.3 ms (target < 50: MISS)',
    );
    const md = measurementMarkdown({ id: 1, title: 'HTTP vs engine', lines: [http], runs: [], notes: ['a note'] });
    expect(md[0]).toBe('## 1. HTTP vs engine');
    expect(md).toContain('| images/s | 27.0 images/s | raw engine: 30.0 images/s | 0.900 | ratio >= 0.9 | pass |');
    expect(md).toContain('\na note');
  });

  it('prints where the median lies: of the ratio beside a baseline, of the value without one', () => {
    const interval = { low: 0.85, high: 0.95, coverage: 0.875 };
    expect(formatLine({ ...http, interval })).toBe(
      "images/s: 27.0 images/s vs raw engine 30.0 images/s = ratio 0.900 (target ratio >= 0.9: PASS) [median's interval 0.850 to 0.950, 88%]",
    );
    const outside: Line = {
      name: 'outside',
      value: 2.04,
      unit: 'ms',
      interval: { low: -1, high: 4.56, coverage: 0.93 },
    };
    expect(formatLine(outside)).toBe("outside: 2.0 ms [median's interval -1.0 to 4.6, 93%]");
    const md = measurementMarkdown({ id: 1, title: 't', lines: [{ ...http, interval }, outside], runs: [] });
    expect(md).toContain(
      "| images/s | 27.0 images/s | raw engine: 30.0 images/s | 0.900 [median's interval 0.850 to 0.950, 88%] | ratio >= 0.9 | pass |",
    );
    expect(md).toContain("| outside | 2.0 ms [median's interval -1.0 to 4.6, 93%] |  | – |  |  |");
  });
});

describe('medianInterval', () => {
  it('takes the order statistics whose binomial coverage reaches the confidence, the full range when too few', () => {
    expect(medianInterval([])).toBeUndefined();
    // Four values: only the full range, which misses the median when all four fall on one side (2/16).
    expect(medianInterval([4, 1, 3, 2])).toEqual({ low: 1, high: 4, coverage: 0.875 });
    // Eight: the 2nd to the 7th, 1 - 2 * (1 + 8) / 256.
    const eight = medianInterval([8, 1, 7, 2, 6, 3, 5, 4]);
    expect(eight).toEqual({ low: 2, high: 7, coverage: 1 - 18 / 256 });
    // Twelve at 95%: the 3rd to the 10th, 1 - 2 * (1 + 12 + 66) / 4096.
    const twelve = medianInterval(
      Array.from({ length: 12 }, (_, i) => i),
      0.95,
    );
    expect(twelve).toEqual({ low: 2, high: 9, coverage: 1 - 158 / 4096 });
    // NaN rounds (no images) are left out rather than sorted anywhere.
    expect(medianInterval([Number.NaN, 3, 1])).toEqual({ low: 1, high: 3, coverage: 0.5 });
  });
});

describe('batchingLines', () => {
  it('pairs on and off runs by connection count: images/s and p99 as on/off', () => {
    const on = [fakeRun('on', 1, 50, 120), fakeRun('on', 8, 300, 900), fakeRun('on', 32, 320, 3000)];
    const off = [fakeRun('off', 1, 55, 100), fakeRun('off', 8, 150, 1200)];
    const lines = batchingLines(on, off);
    expect(lines.map((l) => l.name)).toEqual([
      'images/s at 1 connections',
      'latency p99 at 1 connections',
      'images/s at 8 connections',
      'latency p99 at 8 connections',
    ]);
    expect(lines.map((l) => ratioOf(l))).toEqual([50 / 55, 1.2, 2, 0.75]);
  });
});

describe('instanceLines', () => {
  const w = (imagesPerSecond: number, cpuMsPerImage: number, p50Ms: number) => ({
    imagesPerSecond,
    cpuMsPerImage,
    p50Ms,
  });
  const round = (two: number, one: number): InstanceRound => ({
    saturated: [w(two, 30, 0), w(one, 28, 0)],
    lone: [w(0, 0, 60 + two), w(0, 0, 30 + one)],
  });

  it('reports MODEL_INSTANCES=2 against 1 as medians over the rounds, per model', () => {
    const lines = instanceLines('int8', 32, [round(80, 70), round(90, 60), round(70, 75)]);
    expect(lines.map((l) => [l.name, l.value, l.baseline?.name, l.baseline?.value])).toEqual([
      ['int8 images/s at 32 connections', 80, 'MODEL_INSTANCES=1 (default)', 70],
      ['int8 server CPU per image at 32 connections', 30, 'MODEL_INSTANCES=1 (default)', 28],
      ['int8 latency p50 at 1 connection', 140, 'MODEL_INSTANCES=1 (default)', 100],
    ]);
    expect(lines.every((l) => l.target === undefined)).toBe(true);
  });
});

describe('saturation', () => {
  it('is the smallest connection count within 5% of the best images/s', () => {
    const runs = [
      fakeRun('r', 16, 330, 1),
      fakeRun('r', 1, 50, 1),
      fakeRun('r', 4, 200, 1),
      fakeRun('r', 8, 320, 1),
      fakeRun('r', 32, 335, 1),
    ];
    expect(saturation(runs)).toEqual({ connections: 8, peak: 33.5 });
    expect(saturation(runs, 0)).toEqual({ connections: 32, peak: 33.5 });
    expect(() => saturation([])).toThrow('No runs to find the saturation point in');
  });
});

describe('overloadLines', () => {
  const run = (
    codes: Record<string, number>,
    unavailableWithoutRetryAfter = 0,
    p99Of503 = 20,
  ): { result: ReturnType<typeof fakeRun>; run: CannonRun } => {
    const result = fakeRun('overload', 64, codes['200'] ?? 0, 2000, codes);
    return {
      result,
      run: {
        summary: result.cannon,
        latencyByClassMs: {
          '2xx': { mean: 900, p50: 800, p90: 1500, p99: 2000, max: 2100 },
          '5xx': { mean: 5, p50: 3, p90: 9, p99: p99Of503, max: 40 },
        },
        unavailableWithoutRetryAfter,
      },
    };
  };
  const peak = (images: number) => run({ 200: images });
  const rss = { baseline: 400 * 1024, peak: 520 * 1024, after: 430 * 1024 };

  it('passes an overload that keeps 90% of the peak with only 200s and fast 503s with Retry-After', () => {
    const lines = overloadLines({
      rounds: [{ peak: peak(300), overload: run({ 200: 290, 503: 5000 }) }],
      rssKiB: rss,
      liveStatus: 200,
    });
    const verdicts = Object.fromEntries(lines.map((l) => [l.name, passes(l)]));
    expect(verdicts).toEqual({
      'images/s at 64 connections (median round)': true,
      'responses other than 200/503, plus connection errors': true,
      '503 without Retry-After': true,
      '503 latency p99 (worst round)': true,
      'RSS peak during overload': undefined,
      'RSS 5 s after': true,
      'service up after (1: /v2/health/live answered 200; it answered 200)': true,
    });
    expect(ratioOf(lines[0] as Line)).toBeCloseTo(29 / 30, 12);
    expect(lines.find((l) => l.name === 'RSS peak during overload')).toMatchObject({
      value: 520,
      baseline: { value: 400 },
    });
  });

  it('misses on lost throughput, other statuses, missing Retry-After, RSS that stays up, and a dead service', () => {
    const lines = overloadLines({
      rounds: [{ peak: peak(300), overload: run({ 200: 200, 503: 50, 504: 3 }, 2) }],
      rssKiB: { ...rss, after: 480 * 1024 },
      liveStatus: 0,
    });
    const missed = lines.filter((l) => passes(l) === false).map((l) => l.name);
    expect(missed).toEqual([
      'images/s at 64 connections (median round)',
      'responses other than 200/503, plus connection errors',
      '503 without Retry-After',
      'RSS 5 s after',
      'service up after (1: /v2/health/live answered 200; it answered nothing)',
    ]);
    expect(lines.find((l) => l.name.startsWith('responses other'))?.value).toBe(3);
  });

  it('takes goodput as the median of the per-round ratios, and counts failures and slow 503s in every round', () => {
    const lines = overloadLines({
      rounds: [
        // The machine slow in round 2: both of its windows read low, and its ratio is still 0.95.
        { peak: peak(300), overload: run({ 200: 240, 503: 900 }) },
        { peak: peak(200), overload: run({ 200: 190, 503: 900, 500: 1 }, 1) },
        { peak: peak(300), overload: run({ 200: 285, 503: 900 }, 0, 900) },
      ],
      rssKiB: rss,
      liveStatus: 200,
    });
    const goodput = lines[0] as Line;
    expect(ratioOf(goodput)).toBeCloseTo(0.95, 12);
    expect(goodput.value).toBeCloseTo(24, 12);
    expect(passes(goodput)).toBe(true);
    // The ratio of the medians (24 / 30 = 0.8) would have missed on one slow round.
    expect(median([240, 190, 285]) / median([300, 200, 300])).toBeCloseTo(0.8, 12);
    expect(lines.find((l) => l.name.startsWith('responses other'))?.value).toBe(1);
    expect(lines.find((l) => l.name === '503 without Retry-After')?.value).toBe(1);
    // Round 3's 503 p99 (900 ms against 200s at p50 800 ms) misses, whatever the other rounds did.
    const slow = lines.find((l) => l.name === '503 latency p99 (worst round)');
    expect(slow).toMatchObject({ value: 900, baseline: { value: 800 } });
    expect(passes(slow as Line)).toBe(false);
  });

  it('has no 503 latency line when nothing was rejected', () => {
    const lines = overloadLines({
      rounds: [{ peak: peak(300), overload: run({ 200: 300 }) }],
      rssKiB: rss,
      liveStatus: 200,
    });
    expect(lines.some((l) => l.name.startsWith('503 latency p99'))).toBe(false);
  });

  it('puts the peak window first in even rounds and last in odd ones', () => {
    expect(roundOrder(0, true)).toEqual(['peak', 'overload', 'also']);
    expect(roundOrder(1, true)).toEqual(['also', 'overload', 'peak']);
    expect(roundOrder(2, false)).toEqual(['peak', 'overload']);
    expect(roundOrder(3, false)).toEqual(['overload', 'peak']);
  });

  it('names the goodput line by its connection counts', () => {
    const line = goodputLine([{ peak: fakeRun('p', 8, 100, 1), over: fakeRun('o', 256, 90, 1) }]);
    expect(line.name).toBe('images/s at 256 connections (median round)');
    expect(line.baseline?.name).toBe('peak (8 connections)');
    // Four rounds: their per-round ratios' full range, 0.8 to 1.1, at 87.5%.
    const rounds = [0.8, 1.1, 0.9, 1].map((r) => ({
      peak: fakeRun('p', 8, 100, 1),
      over: fakeRun('o', 64, 100 * r, 1),
    }));
    expect(goodputLine(rounds).interval?.low).toBeCloseTo(0.8, 9);
    expect(goodputLine(rounds).interval?.high).toBeCloseTo(1.1, 9);
    expect(goodputLine(rounds).interval?.coverage).toBe(0.875);
  });
});

describe('what a 503 costs the server', () => {
  /** A window's CPU: the engine's threads, the main thread and the decoders (seconds). */
  const split = (engine: number, main: number, decode = 0) => ({
    totalS: engine + main + decode,
    byRole: { main, decode, gc: 0, engine, other: 0 },
  });
  const measured = (codes: Record<string, number>, durationS: number, server: ReturnType<typeof split>) => {
    const result = fakeRun('w', 64, codes['200'] ?? 0, 100, codes);
    return {
      result: { ...result, cannon: { ...result.cannon, durationS, imagesPerSecond: (codes['200'] ?? 0) / durationS } },
      run: { summary: result.cannon, latencyByClassMs: {}, unavailableWithoutRetryAfter: 0 },
      server,
      clientS: 1,
    };
  };

  it('is the CPU outside the engine beyond the images at the peak CPU per image, per 503, and the same for the main thread', () => {
    // Peak: 100 images for 5 s of CPU (50 ms each): 4 s engine, 0.5 s main, 0.5 s decode.
    const peak = measured({ 200: 100 }, 10, split(4, 0.5, 0.5));
    // Overload: 90 images (0.45 s main, 0.45 s decode) plus 1000 refusals costing 0.3 s, 0.2 s of
    // it on main; the engine swung to 4.2 s for its 3.6 s of images, which says nothing of the refusals.
    const over = measured({ 200: 90, 503: 1000 }, 10, split(4.2, 0.65, 0.55));
    const cost = cpuPer503(peak, over);
    expect(cost.imageMs).toBeCloseTo(50, 9);
    expect(cost.serverMs).toBeCloseTo(0.3, 9);
    expect(cost.mainMs).toBeCloseTo(0.2, 9);
    const lines = refusalCostLines([{ peak, over }]);
    expect(lines[0]?.name).toBe('server CPU per 503 at 64 connections, outside the engine (median round)');
    expect(ratioOf(lines[0] as Line)).toBeCloseTo(0.006, 9);
    expect(refusalCostLines([{ peak, over: measured({ 200: 90 }, 10, split(3.6, 0.45, 0.45)) }])).toEqual([]);
  });

  it('is the median over the rounds that refused, each against its own peak', () => {
    const peak = measured({ 200: 100 }, 10, split(4, 0.5, 0.5));
    // The same 0.3 ms per 503 at half the speed: the round's own peak (100 ms per image) prices its images.
    const slowPeak = measured({ 200: 50 }, 10, split(4, 0.5, 0.5));
    const rounds = [
      { peak, over: measured({ 200: 90, 503: 1000 }, 10, split(3.6, 0.65, 0.55)) },
      { peak: slowPeak, over: measured({ 200: 45, 503: 1000 }, 10, split(3.6, 0.65, 0.55)) },
      { peak, over: measured({ 200: 90, 503: 1000 }, 10, split(3.6, 0.65, 1.25)) },
      { peak, over: measured({ 200: 100 }, 10, split(4, 0.5, 0.5)) },
    ];
    const [server, main] = refusalCostLines(rounds);
    expect(server?.value).toBeCloseTo(0.3, 9);
    expect(server?.baseline?.value).toBeCloseTo(50, 9);
    expect(main?.value).toBeCloseTo(0.2, 9);
  });
});

/** A raw-engine window of 10 s at `imagesPerSecond`, its p99 700 ms. */
function drive(imagesPerSecond: number) {
  return {
    images: imagesPerSecond * 10,
    seconds: 10,
    imagesPerSecond,
    latencyMs: { mean: 1, p50: 1, p90: 1, p99: 700, max: 1 },
    errors: {},
  };
}

describe('HTTP vs raw engine in alternating rounds', () => {
  it('takes the median of the per-round ratios, which one slow round cannot move', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
    const { ratios, median: m } = pairedRatios([
      { http: 27, engine: 30 },
      { http: 10, engine: 40 },
      { http: 36, engine: 40 },
    ]);
    expect(ratios).toEqual([0.9, 0.25, 0.9]);
    expect(m).toBe(0.9);
    expect(pairedRatios([{ http: 5, engine: 0 }]).median).toBeNaN();
  });

  it('alternates which side goes first', () => {
    expect([0, 1, 2, 3].map(httpFirst)).toEqual([true, false, true, false]);
    expect([0, 1].map((round) => windowOrder(round, false))).toEqual([
      ['http', 'raw'],
      ['raw', 'http'],
    ]);
    const orders = [0, 1, 2, 3].map((round) => windowOrder(round, true));
    expect(orders).toEqual([
      ['http', 'before', 'raw'],
      ['raw', 'http', 'before'],
      ['before', 'http', 'raw'],
      ['raw', 'before', 'http'],
    ]);
    // Over four rounds the two servers take each place once against each other.
    const places = (w: 'http' | 'before') => orders.map((order) => order.indexOf(w)).sort();
    expect(places('before')).toEqual([0, 1, 1, 2]);
    expect(places('http')).toEqual([0, 1, 1, 2]);
  });

  it('reports the median round with the median ratio as its verdict, per model, and int8 over FP32', () => {
    const http = [fakeRun('HTTP', 32, 270, 900), fakeRun('HTTP', 32, 100, 2000), fakeRun('HTTP', 32, 360, 800)];
    const fp32 = { label: 'FP32', modelPath: 'a.onnx', target: 0.93 };
    const int8 = { label: 'int8', modelPath: 'b.onnx', target: 0.8 };
    const one = httpVsEngineMeasurement({ image: { width: 500, height: 375 } as never }, 32, [
      { contender: fp32, httpRuns: http, engineRuns: [30, 40, 40].map(drive) },
    ]);
    const [images, p99] = one.lines;
    expect(images?.name).toBe('images/s (median round)');
    expect(images?.value).toBe(27);
    expect(ratioOf(images as Line)).toBeCloseTo(0.9, 12);
    expect(passes(images as Line)).toBe(false);
    expect(p99?.value).toBe(900);
    expect(one.notes?.[0]).toBe(
      'FP32 (a.onnx): per-round ratios 0.900, 0.250, 0.900 (HTTP 27.0, 10.0, 36.0 images/s; engine 30.0, 40.0, 40.0 images/s).',
    );
    const int8Http = [fakeRun('HTTP', 32, 540, 500), fakeRun('HTTP', 32, 300, 900), fakeRun('HTTP', 32, 540, 400)];
    const both = httpVsEngineMeasurement({ image: { width: 500, height: 375 } as never }, 32, [
      { contender: fp32, httpRuns: http, engineRuns: [30, 40, 40].map(drive) },
      { contender: int8, httpRuns: int8Http, engineRuns: [60, 60, 60].map(drive) },
    ]);
    const byName = Object.fromEntries(both.lines.map((l) => [l.name, l]));
    expect(passes(byName['int8: images/s (median round)'] as Line)).toBe(true);
    // Rounds 2, 3 and 1.5: int8 HTTP over FP32 HTTP of the same round, median 2.
    expect(ratioOf(byName['int8 HTTP images/s (median round)'] as Line)).toBeCloseTo(2, 12);
  });
});

describe('CPU per image in benchmark 1', () => {
  it('reads utime + stime from a /proc stat line whose command name has spaces and parentheses', () => {
    const line = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 566 0 0 20 0 12 0 100 0 0';
    expect(parseCpuSeconds(line)).toBe(18);
    expect(() => parseCpuSeconds('4242 (node) S')).toThrow(/Unreadable/);
  });

  it('takes the median per-image CPU over the windows, and splits what lies outside the model by thread', () => {
    const split = (main: number, decode: number, gc: number, engine: number) => ({
      totalS: main + decode + gc + engine,
      byRole: { main, decode, gc, engine, other: 0 },
    });
    const http = [
      { serverS: 6, selfS: 0.4, images: 100, split: split(0.4, 0.3, 0.1, 5.2), mainGcS: 0.1 },
      { serverS: 5.6, selfS: 0.4, images: 100, split: split(0.3, 0.3, 0.1, 4.9), mainGcS: 0.1 },
      { serverS: 5.4, selfS: 0.6, images: 100, split: split(0.3, 0.3, 0.1, 4.7), mainGcS: 0.1 },
    ];
    const engine = [
      { selfS: 5, images: 100, split: split(0.05, 0, 0.02, 4.93), mainGcS: 0 },
      { selfS: 5, images: 100, split: split(0.05, 0, 0.02, 4.93), mainGcS: 0 },
      { selfS: 4.8, images: 120, split: split(0.05, 0, 0.02, 4.73), mainGcS: 0 },
    ];
    expect(cpuPerImageMs(http, (w) => w.serverS)).toBeCloseTo(56, 9);
    expect(cpuPerImageMs(engine, (w) => w.selfS)).toBeCloseTo(50, 9);
    const lines = cpuLines({ http, engine });
    const byName = Object.fromEntries(lines.map((l) => [l.name, l]));
    expect(byName['CPU per image: server process']?.value).toBeCloseTo(56, 9);
    expect(ratioOf(byName['CPU per image: server + load generator (same cores)'] as Line)).toBeCloseTo(1.2, 9);
    const sides = byName['CPU per image outside the model, medians of each side (server - raw engine)'] as Line;
    expect(sides.value).toBeCloseTo(6, 9);
    expect(sides.target).toBeUndefined();
    // Per round: 60-50, 56-50, 54-40 -> median 10 (the medians of each side gave 6); the verdict is on it.
    const paired = byName[
      'CPU per image outside the model, paired by round (median of server - raw engine per round)'
    ] as Line;
    expect(paired.value).toBeCloseTo(10, 9);
    expect(passes(paired)).toBe(false);
    expect(passes({ ...paired, value: 5 })).toBe(true);
    expect(paired.interval?.low).toBeCloseTo(6, 9);
    expect(paired.interval?.high).toBeCloseTo(14, 9);
    expect(byName['  decode/resize (libuv pool + libvips workers)']?.value).toBeCloseTo(3, 9);
    expect(byName['  main thread']?.baseline?.value).toBeCloseTo(0.5, 9);
    expect(byName['  of which main-thread GC pauses']?.value).toBeCloseTo(1, 9);
  });

  it('reports normalize/copy and worker transfer per image, and each stage after against before', () => {
    const window = (serverS: number, main: number, workerInputS: number) => ({
      serverS,
      selfS: 0.3,
      images: 100,
      split: { totalS: serverS, byRole: { main, decode: 0.3, gc: 0.1, engine: serverS - main - 0.4, other: 0 } },
      mainGcS: 0.05,
      workerInputS,
      workerTransferS: 0.01,
    });
    const after = [window(5, 0.3, 0.1), window(5.2, 0.32, 0.12), window(5.1, 0.31, 0.11)];
    const before = [window(6, 0.5, 0.2), window(6.4, 0.52, 0.22), window(6.2, 0.51, 0.21)];
    const stage = Object.fromEntries(cpuLines({ http: after, engine: before }).map((l) => [l.name, l]));
    expect(
      stage['  of which normalize/copy in the worker (wall; the raw engine copies ready tensors)']?.value,
    ).toBeCloseTo(1.1, 9);
    expect(stage['  worker transfer: batch round trip minus time in the worker (wall)']?.value).toBeCloseTo(0.1, 9);
    const lines = beforeAfterLines(after, before, 'before abc1234', 'int8: ');
    const byName = Object.fromEntries(lines.map((l) => [l.name, l]));
    const server = byName['int8: after vs before: CPU per image, server process'] as Line;
    expect(server.value).toBeCloseTo(51, 9);
    expect(server.baseline).toEqual({ name: 'before abc1234', value: expect.closeTo(62, 9) as number });
    expect(byName['int8: after vs before:   main thread']?.baseline?.value).toBeCloseTo(5.1, 9);
    expect(byName['int8: after vs before:   of which normalize/copy in the worker (wall)']?.value).toBeCloseTo(1.1, 9);
    expect(lines).toHaveLength(9);
  });

  it("sets the JIT warm-up's CPU per image beside the measured windows, and notes both servers' warm-ups", () => {
    const window = (serverS: number) => ({ serverS, selfS: 0.3, images: 100 });
    const fp32 = { label: 'FP32', modelPath: 'a.onnx', target: 0.93 };
    const m = httpVsEngineMeasurement({ image: { width: 500, height: 375 } as never }, 32, [
      {
        contender: fp32,
        httpRuns: [fakeRun('HTTP', 32, 270, 900)],
        engineRuns: [drive(30)],
        cpu: { http: [window(5), window(5.4), window(5.2)], engine: [{ selfS: 4.9, images: 100 }] },
        warmup: { images: 2500, seconds: 210, serverCpuPerImageMs: 57.5 },
        before: {
          label: 'FP32 before abc',
          httpRuns: [fakeRun('HTTP', 32, 260, 900)],
          cpu: [window(6)],
          warmup: { images: 2496, seconds: 230, serverCpuPerImageMs: 66 },
        },
      },
    ]);
    const line = m.lines.find((l) => l.name.includes('JIT warm-up')) as Line;
    expect(line.name).toBe('CPU per image: server process in its JIT warm-up (first 2500 images)');
    expect(line.value).toBe(57.5);
    expect(line.baseline).toEqual({ name: 'measured windows', value: expect.closeTo(52, 9) as number });
    expect(m.notes).toContain(
      'FP32: a JIT warm-up of 2500 images (210 s, server CPU 57.5 ms per image) before the first window.',
    );
    expect(m.notes).toContain(
      'FP32 before abc: a JIT warm-up of 2496 images (230 s, server CPU 66.0 ms per image) before the first window.',
    );
    const cold = httpVsEngineMeasurement({ image: { width: 500, height: 375 } as never }, 32, [
      { contender: fp32, httpRuns: [fakeRun('HTTP', 32, 270, 900)], engineRuns: [drive(30)] },
    ]);
    expect(cold.lines.some((l) => l.name.includes('JIT warm-up'))).toBe(false);
  });
});

describe('the --before checkout', () => {
  it("reads the node flags of a commit's npm start script", () => {
    expect(startFlags('npm run build && node --enable-source-maps dist/server/main.js')).toEqual([
      '--enable-source-maps',
    ]);
    expect(startFlags('node --a=1 --b dist/x.js')).toEqual(['--a=1', '--b']);
    expect(startFlags('tsx src/server/main.ts && node dist/server/main.js')).toEqual([]);
    // Early commits ran `tsx src/server/main.ts`: no node flags (npm run bench -- --before such a commit).
    expect(startFlags('tsx src/server/main.ts')).toEqual([]);
    expect(() => startFlags('tsx src/server/main.ts --flag')).toThrow(/node command/);
    expect(() => startFlags('npm run build')).toThrow(/node command/);
  });
});
