// What the four benchmark measurements share: the run context (arguments, image, the multipart
// request, where server logs go) and the shape of a result: lines of "value vs baseline = ratio",
// each with its target when the issue gives one, so every measurement prints the same way.
import { join } from 'node:path';
import type { BenchArgs } from './options.ts';
import type { PreparedRequest } from '../../lib/bodies.ts';
import type { LoadImage } from '../../lib/image.ts';
import { fmt, reportBaseName, type RunResult } from '../../lib/report.ts';
import type { MedianInterval } from '../../lib/stats.ts';
import type { ServerHandle, StartOptions } from '../../lib/server.ts';

/** Connections of measurements 1 and 3 without --saturate: four batches of the default size 8 in flight. */
export const DEFAULT_SATURATING_CONNECTIONS = 32;

export interface BenchContext {
  readonly args: BenchArgs;
  readonly image: LoadImage;
  /** POST /predict with the image as one multipart file part. */
  readonly multipart: PreparedRequest;
  readonly startedAt: Date;
}

export type Comparison = '>=' | '<=' | '<';

export interface Line {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The same quantity measured the baseline way, in the same run. */
  readonly baseline?: { readonly name: string; readonly value: number };
  /** What passes: the ratio (or the value, when there is no baseline) compared with a bound. */
  readonly target?: { readonly comparison: Comparison; readonly bound: number };
  /** Where the median of per-round values lies (of the ratio when there is a baseline, else of the value). */
  readonly interval?: MedianInterval;
}

export interface Measurement {
  readonly id: number;
  readonly title: string;
  readonly lines: readonly Line[];
  readonly runs: readonly RunResult[];
  readonly notes?: readonly string[];
}

export function ratioOf(line: Line): number | undefined {
  return line.baseline === undefined ? undefined : line.value / line.baseline.value;
}

/** True/false when the line has a target, undefined when it is informative only. */
export function passes(line: Line): boolean | undefined {
  if (line.target === undefined) return undefined;
  const x = ratioOf(line) ?? line.value;
  if (!Number.isFinite(x)) return false;
  const { comparison, bound } = line.target;
  return comparison === '>=' ? x >= bound : comparison === '<=' ? x <= bound : x < bound;
}

/** Counts print as integers, sizes in whole MiB, rates and times with one decimal. */
const DIGITS: Readonly<Record<string, number>> = { responses: 0, '': 0, MiB: 0 };

export function formatLine(line: Line): string {
  const ratio = ratioOf(line);
  const digits = DIGITS[line.unit] ?? 1;
  const value = `${fmt(line.value, digits)}${line.unit ? ` ${line.unit}` : ''}`;
  const vs =
    line.baseline === undefined
      ? ''
      : ` vs ${line.baseline.name} ${fmt(line.baseline.value, digits)} ${line.unit} = ratio ${fmt(ratio, 3)}`;
  const verdict = passes(line);
  const target =
    line.target === undefined
      ? ''
      : ` (target ${ratio === undefined ? '' : 'ratio '}${line.target.comparison} ${line.target.bound}: ${verdict ? 'PASS' : 'MISS'})`;
  return `${line.name}: ${value}${vs}${target}${intervalText(line, digits)}`;
}

/** " [median's interval 0.91 to 0.99, 94%]": the rounds' range the median lies in, and how sure. */
function intervalText(line: Line, digits: number): string {
  if (line.interval === undefined) return '';
  const d = line.baseline === undefined ? digits : 3;
  const { low, high, coverage } = line.interval;
  return ` [median's interval ${fmt(low, d)} to ${fmt(high, d)}, ${fmt(coverage * 100, 0)}%]`;
}

export function measurementMarkdown(m: Measurement): string[] {
  const rows = m.lines.map((l) => {
    const ratio = ratioOf(l);
    const verdict = passes(l);
    const target =
      l.target === undefined ? '' : `${ratio === undefined ? '' : 'ratio '}${l.target.comparison} ${l.target.bound}`;
    const digits = DIGITS[l.unit] ?? 1;
    const unit = l.unit ? ` ${l.unit}` : '';
    const baseline = l.baseline ? `${l.baseline.name}: ${fmt(l.baseline.value, digits)}${unit}` : '';
    const interval = intervalText(l, digits);
    const value = `${fmt(l.value, digits)}${unit}${ratio === undefined ? interval : ''}`;
    return `| ${l.name} | ${value} | ${baseline} | ${fmt(ratio, 3)}${ratio === undefined ? '' : interval} | ${target} | ${verdict === undefined ? '' : verdict ? 'pass' : 'MISS'} |`;
  });
  return [
    `## ${m.id}. ${m.title}`,
    '',
    '| measurement | value | baseline | ratio | target | result |',
    '|---|---|---|---|---|---|',
    ...rows,
    ...(m.notes ?? []).map((n) => `\n${n}`),
    '',
  ];
}

export function serverOptions(
  ctx: BenchContext,
  label: string,
  env: Readonly<Record<string, string>> = {},
  modelPath = ctx.args.modelPath,
): StartOptions {
  const logFile = join(ctx.args.outDir, `${reportBaseName({ kind: 'bench', startedAt: ctx.startedAt })}-${label}.log`);
  return { modelPath, env, logFile };
}

/** Samples the server's RSS every intervalMs until stopped; returns the peak in KiB. */
export function sampleRss(server: ServerHandle, intervalMs = 250): { stop(): number } {
  let peak = server.rssKiB();
  const timer = setInterval(() => {
    if (server.alive()) peak = Math.max(peak, server.rssKiB());
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** Seconds of a measured window and its time cap (duration plus the per-request timeout). */
export function timing(ctx: BenchContext, durationS = ctx.args.durationS) {
  return { durationS, maxSeconds: durationS + 30, timeoutS: 30, warmupS: ctx.args.warmupS };
}
