// A small reader of the Prometheus text exposition format (what prom-client writes), and the
// arithmetic on scrapes taken before and after a run: counter and histogram deltas, and
// quantiles estimated from histogram buckets the way PromQL's histogram_quantile does.
// Format: https://prometheus.io/docs/instrumenting/exposition_formats/

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly samples: Sample[];
}

export type Scrape = ReadonlyMap<string, Family>;

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;
const SUFFIXES: Readonly<Record<MetricType, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
  counter: ['_total'],
  gauge: [],
  untyped: [],
};

export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: Family | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const type = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
    if (type) {
      current = { name: type[1] ?? '', type: toMetricType(type[2] ?? ''), samples: [] };
      families.set(current.name, current);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = parseSampleLine(line);
    const family =
      current !== undefined && belongsTo(sample.name, current) ? current : untypedFamily(families, sample.name);
    family.samples.push(sample);
  }
  return families;
}

function toMetricType(text: string): MetricType {
  return (['counter', 'gauge', 'histogram', 'summary'] as const).find((t) => t === text) ?? 'untyped';
}

function belongsTo(sampleName: string, family: Family): boolean {
  return sampleName === family.name || SUFFIXES[family.type].some((s) => sampleName === family.name + s);
}

function untypedFamily(families: Map<string, Family>, name: string): Family {
  const existing = families.get(name);
  if (existing) return existing;
  const family: Family = { name, type: 'untyped', samples: [] };
  families.set(name, family);
  return family;
}

function parseSampleLine(line: string): Sample {
  const m = SAMPLE_LINE.exec(line);
  if (!m) throw new SyntaxError(`Not a Prometheus sample line: ${line.slice(0, 120)}`);
  return { name: m[1] ?? '', labels: parseLabels(m[3] ?? ''), value: parseValue(m[4] ?? '') };
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  // A sticky regex resets lastIndex when it fails, so the position is tracked here.
  let position = 0;
  LABEL_PAIR.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = LABEL_PAIR.exec(text)) !== null) {
    labels[m[1] ?? ''] = (m[2] ?? '').replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    position = LABEL_PAIR.lastIndex;
  }
  if (position !== text.length && text.trim() !== '') {
    throw new SyntaxError(`Malformed labels: {${text.slice(0, 120)}}`);
  }
  return labels;
}

/** Values as Go's ParseFloat reads them: case-insensitive Inf and NaN (prom-client writes "Nan"). */
function parseValue(text: string): number {
  if (/^\+?inf$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(text)) return Number.NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new SyntaxError(`Not a sample value: ${text}`);
  return value;
}

type LabelFilter = (labels: Readonly<Record<string, string>>) => boolean;

/** Sum of a counter's (or gauge's) samples after minus before, over the label sets that pass. */
export function counterDelta(
  before: Scrape | undefined,
  after: Scrape,
  name: string,
  filter: LabelFilter = () => true,
): number {
  const total = (scrape: Scrape | undefined): number =>
    (scrape?.get(name)?.samples ?? [])
      .filter((s) => s.name !== `${name}_created` && filter(s.labels))
      .reduce((a, s) => a + s.value, 0);
  return total(after) - total(before);
}

/** A counter's delta split by one label: { reason: delta }, over the label sets that pass; zero deltas are left out. */
export function counterDeltaByLabel(
  before: Scrape | undefined,
  after: Scrape,
  name: string,
  label: string,
  filter: LabelFilter = () => true,
): Record<string, number> {
  const values = new Set((after.get(name)?.samples ?? []).map((s) => s.labels[label] ?? ''));
  const out: Record<string, number> = {};
  for (const value of [...values].sort()) {
    const delta = counterDelta(before, after, name, (l) => (l[label] ?? '') === value && filter(l));
    if (delta !== 0) out[value] = delta;
  }
  return out;
}

export interface Bucket {
  /** Upper bound (inclusive); +Infinity for the last bucket. */
  readonly le: number;
  readonly count: number;
}

export interface HistogramDelta {
  readonly name: string;
  /** Cumulative counts, sorted by le, as Prometheus exposes them. */
  readonly buckets: readonly Bucket[];
  readonly count: number;
  readonly sum: number;
}

/** after - before of a histogram, summed over the label sets (other than le) that pass the filter. */
export function histogramDelta(
  before: Scrape | undefined,
  after: Scrape,
  name: string,
  filter: LabelFilter = () => true,
): HistogramDelta | undefined {
  const family = after.get(name);
  if (family?.type !== 'histogram') return undefined;
  const sums = (scrape: Scrape | undefined) => {
    const buckets = new Map<number, number>();
    let count = 0;
    let sum = 0;
    for (const s of scrape?.get(name)?.samples ?? []) {
      if (!filter(s.labels)) continue;
      if (s.name === `${name}_bucket`) {
        const le = parseValue(s.labels['le'] ?? '+Inf');
        buckets.set(le, (buckets.get(le) ?? 0) + s.value);
      } else if (s.name === `${name}_count`) count += s.value;
      else if (s.name === `${name}_sum`) sum += s.value;
    }
    return { buckets, count, sum };
  };
  const a = sums(after);
  const b = sums(before);
  const buckets = [...a.buckets.keys()]
    .sort((x, y) => x - y)
    .map((le) => ({ le, count: (a.buckets.get(le) ?? 0) - (b.buckets.get(le) ?? 0) }));
  return { name, buckets, count: a.count - b.count, sum: a.sum - b.sum };
}

/**
 * The q-quantile estimated from cumulative buckets, as PromQL's histogram_quantile: linear
 * interpolation inside the bucket that holds the rank; the lowest bucket starts at 0 (for
 * positive bounds); a rank in the +Inf bucket returns the highest finite bound. NaN when empty.
 */
export function histogramQuantile(q: number, delta: Pick<HistogramDelta, 'buckets' | 'count'>): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`Expected a quantile from 0 to 1, got ${q}`);
  const buckets = delta.buckets;
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [i, bucket] of buckets.entries()) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) return buckets[i - 1]?.le ?? Number.NaN;
      if (i === 0 && bucket.le <= 0) return bucket.le;
      const inBucket = bucket.count - below;
      return inBucket === 0 ? bucket.le : lower + ((bucket.le - lower) * (rank - below)) / inBucket;
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return Number.NaN;
}

/** Per-bucket (not cumulative) counts: how many observations fell in (previous le, le]. */
export function bucketCounts(delta: Pick<HistogramDelta, 'buckets'>): Bucket[] {
  let previous = 0;
  return delta.buckets.map((b) => {
    const count = b.count - previous;
    previous = b.count;
    return { le: b.le, count };
  });
}

export function histogramMean(delta: Pick<HistogramDelta, 'count' | 'sum'>): number {
  return delta.count > 0 ? delta.sum / delta.count : Number.NaN;
}
