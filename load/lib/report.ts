// Load reports: the same runs as JSON (every number, for tools and later comparison) and as
// Markdown (a table a person reads), plus the latency-vs-throughput SVG when several runs are
// compared. Files go to load/reports/ (git-ignored), named by kind and start time.
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CannonSummary, LatencyMs } from './cannon.ts';
import { latencyThroughputSvg } from './chart.ts';
import type { ServerSide } from './server-metrics.ts';

/** Where every load script writes its reports unless told otherwise (--out). */
export const DEFAULT_REPORT_DIR = 'load/reports';

export interface RunResult {
  /** The setting this run belongs to, e.g. "defaults" or "MAX_BATCH_SIZE=1". */
  readonly setting: string;
  readonly body: string;
  readonly cannon: CannonSummary;
  readonly server?: ServerSide;
  readonly latencyByClassMs?: Readonly<Record<string, LatencyMs>>;
}

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cpus: number;
  readonly availableParallelism: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
  /** 1/5/15-minute load averages when the run started: a busy machine shows here. */
  readonly loadAverage: readonly number[];
}

export interface ReportMeta {
  readonly kind: 'load' | 'bench';
  readonly title: string;
  readonly startedAt: Date;
  readonly command: string;
  readonly target: string;
  readonly image?: {
    readonly name: string;
    readonly width: number;
    readonly height: number;
    readonly bytes: number;
    readonly source: string;
  };
  readonly machine: MachineInfo;
  readonly notes?: readonly string[];
}

export interface BuiltReport {
  readonly json: string;
  readonly markdown: string;
  /** Present when two or more runs are compared. */
  readonly svg: string | undefined;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cpus: list.length,
    availableParallelism: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch} ${release()}`,
    loadAverage: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

/** Fixed digits; "–" for NaN or missing values (a series the server did not expose). */
export function fmt(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

export function reportBaseName(meta: Pick<ReportMeta, 'kind' | 'startedAt'>): string {
  return `${meta.kind}-${meta.startedAt.toISOString().replace(/[:.]/g, '-')}`;
}

export interface BuildOptions {
  /** Markdown placed before the runs table. */
  readonly preamble?: readonly string[];
  /** Chart the runs when two or more are compared (default true). */
  readonly chart?: boolean;
}

export function buildReport(meta: ReportMeta, runs: readonly RunResult[], options: BuildOptions = {}): BuiltReport {
  const svg = runs.length >= 2 && options.chart !== false ? runsChart(meta.title, runs) : undefined;
  const json = JSON.stringify({ ...meta, startedAt: meta.startedAt.toISOString(), runs }, nonFiniteAsNull, 2) + '\n';
  const markdown = [
    `# ${meta.title}`,
    '',
    ...headerLines(meta),
    '',
    ...(options.preamble ?? []),
    ...(runs.length > 0 ? runsTable(runs) : []),
    ...(svg === undefined ? [] : ['', `![latency p99 vs throughput](${reportBaseName(meta)}.svg)`]),
    ...(runs.length > 0 ? ['', ...serverDetails(runs)] : []),
  ].join('\n');
  return { json, markdown: markdown + '\n', svg };
}

export function runsChart(title: string, runs: readonly RunResult[]): string {
  const points = runs.map((r) => ({
    series: r.setting,
    connections: r.cannon.connections,
    imagesPerSecond: r.cannon.imagesPerSecond,
    latencyMs: r.cannon.latencyMs.p99,
  }));
  return latencyThroughputSvg(points, { title });
}

function nonFiniteAsNull(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

function headerLines(meta: ReportMeta): string[] {
  const m = meta.machine;
  const lines = [
    `- Started: ${meta.startedAt.toISOString()}`,
    `- Command: \`${meta.command}\``,
    `- Target: ${meta.target}`,
    `- Machine: ${m.cpuModel}, ${m.cpus} CPUs (available parallelism ${m.availableParallelism}), ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}`,
    `- Load average at start: ${m.loadAverage.join(' / ')}`,
  ];
  if (meta.image) {
    const i = meta.image;
    lines.push(`- Image: ${i.name}, ${i.width}x${i.height}, ${i.bytes} bytes (${i.source})`);
  }
  return [...lines, ...(meta.notes ?? []).map((n) => `- ${n}`)];
}

function runsTable(runs: readonly RunResult[]): string[] {
  const rows = runs.map((r) => {
    const c = r.cannon;
    const s = r.server;
    return [
      r.setting,
      r.body,
      String(c.connections),
      fmt(c.imagesPerSecond),
      fmt(c.requestsPerSecond),
      fmt(c.latencyMs.p50, 0),
      fmt(c.latencyMs.p90, 0),
      fmt(c.latencyMs.p99, 0),
      String(c.ok),
      String(c.non2xx),
      String(c.errors),
      fmt(s?.batches?.mean, 2),
      `${fmt(s?.queueWait?.p50Ms)} / ${fmt(s?.queueWait?.p99Ms)}`,
      fmt(s?.compute?.meanMs),
      fmt(s?.preprocess?.meanMs),
    ];
  });
  const head = [
    'setting',
    'body',
    'conn',
    'images/s',
    'req/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    '2xx',
    'non-2xx',
    'errors',
    'batch mean',
    'queue wait p50 / p99 ms',
    'compute mean ms',
    'preprocess mean ms',
  ];
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

function serverDetails(runs: readonly RunResult[]): string[] {
  const lines = ['## Per run', ''];
  for (const r of runs) {
    const codes =
      Object.entries(r.cannon.statusCodes)
        .map(([code, n]) => `${code}: ${n}`)
        .join(', ') || 'none';
    const batches = r.server?.batches?.distribution.map((b) => `${b.size}: ${b.count}`).join(', ') ?? '–';
    const rejections =
      Object.entries(r.server?.rejections ?? {})
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ') || 'none';
    lines.push(
      `- **${r.setting}, ${r.cannon.connections} connections** (${fmt(r.cannon.durationS)} s): status codes ${codes}; ` +
        `batch sizes (${r.server?.batches?.count ?? '–'} batches) ${batches}; rejections ${rejections}`,
    );
  }
  return lines;
}

/** Writes <dir>/<kind>-<time>.json, .md and (if any) .svg; returns the paths written. */
export async function writeReport(
  dir: string,
  meta: Pick<ReportMeta, 'kind' | 'startedAt'>,
  report: BuiltReport,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const base = join(dir, reportBaseName(meta));
  const files: [string, string][] = [
    [`${base}.json`, report.json],
    [`${base}.md`, report.markdown],
  ];
  if (report.svg !== undefined) files.push([`${base}.svg`, report.svg]);
  await Promise.all(files.map(([path, text]) => writeFile(path, text)));
  return files.map(([path]) => path);
}
