// The server's side of a load run, from /metrics scraped before and after it: how big the
// batches were, how long images waited in the queue, how long compute and preprocessing took,
// and what was rejected. The series are labelled by model and version: summed over all of them,
// or read for one model (and version) when a run targets it on a server with several.
import { setTimeout as sleep } from 'node:timers/promises';
import { METRIC_NAMES } from '../../src/server/plugins/metrics.ts';
import {
  bucketCounts,
  counterDelta,
  counterDeltaByLabel,
  histogramDelta,
  histogramMean,
  histogramQuantile,
  parsePrometheus,
  type Bucket,
  type Scrape,
} from './prometheus.ts';

/** The server's series (src/server/plugins/metrics.ts publishes the names). */
export const SERVER_SERIES = {
  batchSize: METRIC_NAMES.batchSize,
  queueWait: METRIC_NAMES.queueWait,
  compute: METRIC_NAMES.inference,
  workerInput: METRIC_NAMES.workerInput,
  workerTransfer: METRIC_NAMES.workerTransfer,
  preprocess: METRIC_NAMES.preprocess,
  endToEnd: METRIC_NAMES.endToEnd,
  rejections: METRIC_NAMES.rejections,
  images: METRIC_NAMES.imagesClassified,
  queueDepth: METRIC_NAMES.queueDepth,
  /** prom-client's default metric: the main thread's GC pauses (perf_hooks), by kind. */
  gc: 'nodejs_gc_duration_seconds',
} as const;

export interface DurationSummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Batches whose size falls in a bucket: "3" for a one-size bucket, "33-64" for a wider one. */
export interface BatchSizeCount {
  readonly size: string;
  readonly count: number;
}

export interface ServerSide {
  /** Batches computed during the run and their size distribution (per-bucket counts). */
  readonly batches?: {
    readonly count: number;
    readonly mean: number;
    readonly distribution: readonly BatchSizeCount[];
  };
  readonly queueWait?: DurationSummary;
  readonly compute?: DurationSummary;
  readonly preprocess?: DurationSummary;
  readonly endToEnd?: DurationSummary;
  /** Rejections during the run by reason label. */
  readonly rejections?: Readonly<Record<string, number>>;
  readonly imagesClassified?: number;
  /** Seconds the main thread spent in GC pauses during the run. */
  readonly gcSeconds?: number;
  /** Seconds the engine's worker spent writing batch inputs (normalize/copy), summed over batches. */
  readonly workerInputSeconds?: number;
  /** Seconds of batch round trips to the worker beyond the time inside it, summed over batches. */
  readonly workerTransferSeconds?: number;
}

export async function scrapeMetrics(baseUrl: string, timeoutMs = 5000): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${baseUrl}/metrics answered ${res.status}`);
  return parsePrometheus(await res.text());
}

/** Which model's series to read: every one when empty. */
export interface ModelFilter {
  readonly model?: string;
  readonly version?: string;
}

function labelFilter(filter: ModelFilter): (labels: Readonly<Record<string, string>>) => boolean {
  return (labels) =>
    (filter.model === undefined || labels['model'] === filter.model) &&
    (filter.version === undefined || labels['version'] === filter.version);
}

function durationSummary(
  before: Scrape | undefined,
  after: Scrape,
  name: string,
  filter: ModelFilter,
): DurationSummary | undefined {
  const delta = histogramDelta(before, after, name, labelFilter(filter));
  if (delta === undefined) return undefined;
  return {
    count: delta.count,
    meanMs: 1000 * histogramMean(delta),
    p50Ms: 1000 * histogramQuantile(0.5, delta),
    p99Ms: 1000 * histogramQuantile(0.99, delta),
  };
}

export function summarizeServer(before: Scrape | undefined, after: Scrape, filter: ModelFilter = {}): ServerSide {
  const out: { -readonly [K in keyof ServerSide]: ServerSide[K] } = {};
  const only = labelFilter(filter);
  const batch = histogramDelta(before, after, SERVER_SERIES.batchSize, only);
  if (batch)
    out.batches = { count: batch.count, mean: histogramMean(batch), distribution: batchSizeCounts(batch.buckets) };
  const queueWait = durationSummary(before, after, SERVER_SERIES.queueWait, filter);
  if (queueWait) out.queueWait = queueWait;
  const compute = durationSummary(before, after, SERVER_SERIES.compute, filter);
  if (compute) out.compute = compute;
  const preprocess = durationSummary(before, after, SERVER_SERIES.preprocess, filter);
  if (preprocess) out.preprocess = preprocess;
  const endToEnd = durationSummary(before, after, SERVER_SERIES.endToEnd, filter);
  if (endToEnd) out.endToEnd = endToEnd;
  if (after.get(SERVER_SERIES.rejections)?.type === 'counter') {
    out.rejections = counterDeltaByLabel(before, after, SERVER_SERIES.rejections, 'reason', only);
  }
  if (after.get(SERVER_SERIES.images)?.type === 'counter')
    out.imagesClassified = counterDelta(before, after, SERVER_SERIES.images, only);
  const workerInput = histogramDelta(before, after, SERVER_SERIES.workerInput, only);
  if (workerInput) out.workerInputSeconds = workerInput.sum;
  const workerTransfer = histogramDelta(before, after, SERVER_SERIES.workerTransfer, only);
  if (workerTransfer) out.workerTransferSeconds = workerTransfer.sum;
  // Process-wide (the main thread's pauses): not labelled by model.
  const gc = histogramDelta(before, after, SERVER_SERIES.gc);
  if (gc) out.gcSeconds = gc.sum;
  return out;
}

/** Per-bucket counts of a histogram of integers (batch sizes), labelled by the sizes each holds; empty buckets left out. */
export function batchSizeCounts(buckets: readonly Bucket[]): BatchSizeCount[] {
  let previous = 0;
  return bucketCounts({ buckets }).flatMap((b) => {
    const from = Math.floor(previous) + 1;
    previous = b.le;
    if (b.count === 0) return [];
    const size = b.le === Number.POSITIVE_INFINITY ? `>${from - 1}` : from >= b.le ? String(b.le) : `${from}-${b.le}`;
    return [{ size, count: b.count }];
  });
}

/** Queue depth, batches finished so far and their mean compute time (s), from one scrape (all models together). */
export function backlogOf(scrape: Scrape): { queueDepth: number; batches: number; meanComputeS: number } {
  const queueDepth = counterDelta(undefined, scrape, SERVER_SERIES.queueDepth);
  const batches = histogramDelta(undefined, scrape, SERVER_SERIES.batchSize)?.count ?? 0;
  const compute = histogramDelta(undefined, scrape, SERVER_SERIES.compute);
  return { queueDepth, batches, meanComputeS: compute ? histogramMean(compute) : Number.NaN };
}

/**
 * Waits until the work a previous run left behind is done: when autocannon stops, it drops its
 * connections, but images already queued or computing still hold the CPU for a while and would
 * count in the next window. Idle = an empty queue and no batch finished for 1.5 mean batch times.
 * Returns false when /metrics does not answer or the time is up.
 */
export async function waitIdle(baseUrl: string, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let previous: number | undefined;
  while (Date.now() < deadline) {
    let backlog: ReturnType<typeof backlogOf>;
    try {
      backlog = backlogOf(await scrapeMetrics(baseUrl));
    } catch {
      return false;
    }
    if (backlog.queueDepth === 0 && backlog.batches === previous) return true;
    previous = backlog.queueDepth === 0 ? backlog.batches : undefined;
    const meanMs = 1000 * backlog.meanComputeS;
    await sleep(Number.isFinite(meanMs) ? Math.min(5000, Math.max(250, 1.5 * meanMs)) : 250);
  }
  return false;
}
