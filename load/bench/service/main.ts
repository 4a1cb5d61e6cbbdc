// `npm run bench`: the four side-by-side measurements, each printed as a ratio against
// its baseline measured in the same run: (1) HTTP vs the raw engine, (2) batching on vs off,
// (3) health p99 while saturated, (4) overload; and, only when asked for (`--only 5`), (5)
// MODEL_INSTANCES=2 vs 1. `--only 1,3` runs a subset, `--duration 10` sets
// each measured window. Writes a JSON + Markdown report (and the batching chart) to load/reports/.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildRequest } from '../../lib/bodies.ts';
import { commandLine } from '../../lib/cli.ts';
import { loadImage } from '../../lib/image.ts';
import { buildReport, machineInfo, reportBaseName, writeReport } from '../../lib/report.ts';
import { formatLine, measurementMarkdown, passes, type BenchContext, type Measurement } from './common.ts';
import { BENCH_COMMAND, toBenchArgs, type BenchArgs } from './options.ts';

type Runner = (ctx: BenchContext) => Promise<Measurement & { chart?: string }>;

/** Loaded on demand: measurement 1 pulls in onnxruntime, which the others do not need in this process. */
const MEASUREMENTS: Readonly<Record<number, () => Promise<Runner>>> = {
  1: async () => (await import('./http-vs-engine.ts')).httpVsEngine,
  2: async () => (await import('./batching.ts')).batchingOnOff,
  3: async () => (await import('./health.ts')).healthWhileSaturated,
  4: async () => (await import('./overload.ts')).overload,
  5: async () => (await import('./instances.ts')).instances,
};

async function context(args: BenchArgs): Promise<BenchContext> {
  const image = await loadImage(args.image);
  const multipart = buildRequest('multipart', {
    image: image.bytes,
    imageName: image.name,
    imagesPerRequest: 1,
    modelName: 'resnet50',
  });
  return { args, image, multipart, startedAt: new Date() };
}

async function main(args: BenchArgs, argv: readonly string[]): Promise<void> {
  const machine = machineInfo();
  const ctx = await context(args);
  console.log(
    `image: ${ctx.image.name} ${ctx.image.width}x${ctx.image.height} (${ctx.image.source}); measurements ${args.only.join(', ')}; ${args.durationS} s windows`,
  );
  const results: (Measurement & { chart?: string })[] = [];
  for (const id of args.only) {
    const runner = await MEASUREMENTS[id]?.();
    if (runner === undefined) continue;
    console.log(`\n== ${id} ==`);
    const m = await runner(ctx);
    results.push(m);
    console.log(m.title);
    for (const line of m.lines) console.log(`  ${formatLine(line)}`);
  }
  await writeBenchReport(ctx, argv, machine, results);
  const missed = results.flatMap((m) => m.lines.filter((l) => passes(l) === false).map((l) => `${m.id}: ${l.name}`));
  console.log(missed.length === 0 ? '\nall targets met' : `\ntargets missed:\n  ${missed.join('\n  ')}`);
}

async function writeBenchReport(
  ctx: BenchContext,
  argv: readonly string[],
  machine: ReturnType<typeof machineInfo>,
  results: readonly (Measurement & { chart?: string })[],
) {
  const meta = {
    kind: 'bench' as const,
    title: 'Benchmarks: side by side in one run',
    startedAt: ctx.startedAt,
    command: `npm run bench -- ${argv.join(' ')}`.trim(),
    target: `services started on 127.0.0.1 with ${ctx.args.modelPath}`,
    image: {
      name: ctx.image.name,
      width: ctx.image.width,
      height: ctx.image.height,
      bytes: ctx.image.bytes.length,
      source: ctx.image.source,
    },
    machine,
  };
  const base = reportBaseName(meta);
  const charts = results.filter((m) => m.chart !== undefined);
  const markdown = results.flatMap((m) => [
    ...measurementMarkdown(m),
    ...(m.chart ? [`![measurement ${m.id}](${base}-${m.id}.svg)`, ''] : []),
  ]);
  // Charts are per measurement: one chart of all runs would mix unrelated settings.
  const report = buildReport(
    meta,
    results.flatMap((m) => m.runs),
    { preamble: [...markdown, '## All runs', ''], chart: false },
  );
  const files = await writeReport(ctx.args.outDir, meta, report);
  for (const m of charts) {
    const path = join(ctx.args.outDir, `${base}-${m.id}.svg`);
    await writeFile(path, m.chart ?? '');
    files.push(path);
  }
  console.log(`reports: ${files.join(', ')}`);
}

const argv = process.argv.slice(2);
await main(commandLine(BENCH_COMMAND, toBenchArgs, argv), argv);
