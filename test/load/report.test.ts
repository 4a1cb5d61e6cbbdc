import { describe, expect, it } from 'vitest';
import { latencyThroughputSvg, niceStep } from '../../load/lib/chart.ts';
import {
  buildReport,
  fmt,
  reportBaseName,
  writeReport,
  type ReportMeta,
  type RunResult,
} from '../../load/lib/report.ts';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeRun } from './fake-runs.ts';

const meta: ReportMeta = {
  kind: 'load',
  title: 'Load: multipart /predict?topk=5',
  startedAt: new Date('2025-01-02T03:04:05.678Z'),
  command: 'npm run load -- -c 1,8',
  target: 'started on 127.0.0.1 with models/resnet50.onnx',
  image: { name: 'cat.jpg', width: 500, height: 375, bytes: 31234, source: 'fixture' },
  machine: {
    cpuModel: 'Test CPU',
    cpus: 2,
    availableParallelism: 2,
    memoryGiB: 7.8,
    node: 'v20.20.0',
    platform: 'linux x64 6.1',
    loadAverage: [1.5, 1, 0.5],
  },
};

const withServer: RunResult = {
  ...fakeRun('defaults', 8, 300, 900),
  server: {
    batches: {
      count: 50,
      mean: 6,
      distribution: [
        { size: '4', count: 10 },
        { size: '8', count: 40 },
      ],
    },
    queueWait: { count: 300, meanMs: 40, p50Ms: 30, p99Ms: 120 },
    compute: { count: 50, meanMs: 410.26, p50Ms: 400, p99Ms: 480 },
    rejections: { queue_full: 3 },
  },
};

describe('buildReport', () => {
  it('writes every run into the JSON report, with NaN as null', () => {
    const runs = [fakeRun('defaults', 1, 50, 120), withServer];
    const json = JSON.parse(buildReport(meta, runs).json) as {
      startedAt: string;
      runs: RunResult[];
      machine: { cpus: number };
    };
    expect(json.startedAt).toBe('2025-01-02T03:04:05.678Z');
    expect(json.machine.cpus).toBe(2);
    expect(json.runs).toHaveLength(2);
    expect(json.runs[1]?.cannon).toMatchObject({ connections: 8, ok: 300, imagesPerSecond: 30, requestsPerSecond: 30 });
    expect(json.runs[1]?.server?.compute?.meanMs).toBe(410.26);
    const empty = JSON.parse(buildReport(meta, [fakeRun('x', 1, 0, Number.NaN)]).json) as {
      runs: { cannon: { latencyMs: { p99: unknown } } }[];
    };
    expect(empty.runs[0]?.cannon.latencyMs.p99).toBeNull();
  });

  it('writes a Markdown table row per run with images/s, latencies, errors and the server side', () => {
    const { markdown } = buildReport(meta, [fakeRun('defaults', 1, 50, 120), withServer]);
    const lines = markdown.split('\n');
    expect(lines[0]).toBe('# Load: multipart /predict?topk=5');
    expect(markdown).toContain(
      '- Machine: Test CPU, 2 CPUs (available parallelism 2), 7.8 GiB, linux x64 6.1, Node v20.20.0',
    );
    expect(markdown).toContain('- Load average at start: 1.5 / 1 / 0.5');
    expect(markdown).toContain('- Image: cat.jpg, 500x375, 31234 bytes (fixture)');
    expect(lines).toContain(
      '| defaults | multipart | 1 | 5.0 | 5.0 | 40 | 80 | 120 | 50 | 0 | 0 | – | – / – | – | – |',
    );
    expect(lines).toContain(
      '| defaults | multipart | 8 | 30.0 | 30.0 | 300 | 600 | 900 | 300 | 0 | 0 | 6.00 | 30.0 / 120.0 | 410.3 | – |',
    );
    expect(markdown).toContain('batch sizes (50 batches) 4: 10, 8: 40; rejections queue_full: 3');
    expect(markdown).toContain('![latency p99 vs throughput](load-2025-01-02T03-04-05-678Z.svg)');
  });

  it('charts two or more runs, one point per run, and none for a single run or when asked not to', () => {
    const runs = [
      fakeRun('on', 1, 50, 120),
      fakeRun('on', 8, 300, 900),
      fakeRun('off', 1, 48, 110),
      fakeRun('off', 8, 120, 2000),
    ];
    const svg = buildReport(meta, runs).svg ?? '';
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<circle /g)).toHaveLength(4);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(buildReport(meta, [withServer]).svg).toBeUndefined();
    expect(buildReport(meta, runs, { chart: false }).svg).toBeUndefined();
    expect(buildReport(meta, [withServer], { chart: false }).markdown).not.toContain('.svg');
  });

  it('puts a preamble before the runs table', () => {
    const { markdown } = buildReport(meta, [withServer], { preamble: ['## 1. Something', ''] });
    expect(markdown.indexOf('## 1. Something')).toBeLessThan(markdown.indexOf('| setting |'));
  });
});

describe('writeReport', () => {
  it('writes .json, .md and .svg named by kind and start time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'load-report-'));
    const report = buildReport(meta, [fakeRun('a', 1, 10, 50), fakeRun('a', 2, 20, 60)]);
    const files = await writeReport(join(dir, 'nested'), meta, report);
    expect(files.map((f) => f.slice(dir.length + 8))).toEqual([
      `${reportBaseName(meta)}.json`,
      `${reportBaseName(meta)}.md`,
      `${reportBaseName(meta)}.svg`,
    ]);
    expect((await readdir(join(dir, 'nested'))).sort()).toEqual([
      'load-2025-01-02T03-04-05-678Z.json',
      'load-2025-01-02T03-04-05-678Z.md',
      'load-2025-01-02T03-04-05-678Z.svg',
    ]);
    expect(await readFile(files[1] ?? '', 'utf8')).toBe(report.markdown);
  });
});

describe('latencyThroughputSvg', () => {
  it('places points on axes scaled to nice bounds, labels them with connections, and escapes text', () => {
    const svg = latencyThroughputSvg(
      [
        { series: 'a<b', connections: 1, imagesPerSecond: 0, latencyMs: 0 },
        { series: 'a<b', connections: 8, imagesPerSecond: 40, latencyMs: 200 },
      ],
      { title: 'T & U', width: 364, height: 288 },
    );
    // Plot area: x 64..214 (150 px for 0..40), y 40..240 (200 px for 0..200).
    expect(svg).toContain('<circle cx="64.0" cy="240.0" r="4"');
    expect(svg).toContain('<circle cx="214.0" cy="40.0" r="4"');
    expect(svg).toContain('>c=8</text>');
    expect(svg).toContain('T &#38; U');
    expect(svg).toContain('>a&#60;b</text>');
    expect(svg).not.toContain('a<b');
  });

  it('leaves out points without finite numbers', () => {
    const svg = latencyThroughputSvg(
      [
        { series: 's', connections: 1, imagesPerSecond: Number.NaN, latencyMs: 5 },
        { series: 's', connections: 2, imagesPerSecond: 3, latencyMs: 5 },
      ],
      { title: 't' },
    );
    expect(svg.match(/<circle /g)).toHaveLength(1);
  });

  it('chooses ticks of 1, 2 or 5 times a power of ten', () => {
    expect([niceStep(40), niceStep(200), niceStep(7), niceStep(0.3), niceStep(0), niceStep(Number.NaN)]).toEqual([
      10, 50, 2, 0.1, 1, 1,
    ]);
  });
});

describe('fmt', () => {
  it('formats numbers with fixed digits and marks missing values', () => {
    expect([fmt(1.25, 1), fmt(3, 0), fmt(undefined), fmt(Number.NaN), fmt(Number.POSITIVE_INFINITY)]).toEqual([
      '1.3',
      '3',
      '–',
      '–',
      '–',
    ]);
  });
});
