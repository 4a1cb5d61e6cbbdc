// `npm run bench:models`: several models on the same cores, side by side in one run.
// 1. Threads: the same total load (`--concurrency` images in flight) on one ResNet-50 engine, and
//    split over two engines (two sessions of the same graph) under three thread policies: each
//    with INTRA_OP_THREADS threads and nothing shared (the cores are oversubscribed), each with
//    half the threads, and each with all threads behind one shared compute gate. Rounds alternate
//    the order; per-round ratios to the one-model case, median over rounds.
// 2. Memory: the RSS of the server (src/server/main.ts under tsx, as `npm run load` starts it) on
//    a repository of 0, 1, 2 and 3 copies of one model, once ready: what each loaded model adds,
//    for the tiny and the full ResNet-50.
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildModel, writeModel } from '../../src/model/build.ts';
import { manifestPathFor } from '../../src/model/manifest.ts';
import { ComputeGate } from '../../src/model/runtime/compute-gate.ts';
import { createEngine, type Engine } from '../../src/model/runtime/engine.ts';
import { command, commandLine } from '../lib/cli.ts';
import { withServer } from '../lib/server.ts';
import { median } from '../lib/stats.ts';
import { driveEngine, type DriveResult } from './service/engine-driver.ts';

const IMAGE = 3 * 224 * 224;
const args = commandLine(
  command({
    name: 'npm run bench:models',
    summary: 'Several ResNet-50 engines on the same cores (thread policies), and server memory per loaded model.',
    flags: {
      slice: { kind: 'int', value: 'S', min: 1, max: 120, default: 10, help: 'seconds per measured slice' },
      rounds: { kind: 'int', min: 1, max: 20, default: 3, help: 'rounds of every policy, in alternating order' },
      concurrency: { kind: 'int', min: 2, max: 256, default: 16, help: 'images in flight in total' },
      threads: {
        kind: 'int',
        min: 1,
        max: 64,
        default: availableParallelism(),
        help: 'intra-op threads per engine',
        defaultText: 'the number of cores',
      },
      batch: { kind: 'int', min: 1, max: 64, default: 8, help: 'largest batch of every engine' },
      only: { kind: 'choice', choices: ['threads', 'memory'], help: 'run one part only' },
    },
  }),
);
const { slice: sliceS, rounds, concurrency, threads, batch } = args;
const DIR = '/tmp/resnet-serve-bench';

async function model(file: string, options: Parameters<typeof buildModel>[0]): Promise<string> {
  const path = `${DIR}/${file}`;
  if (existsSync(path) && existsSync(manifestPathFor(path))) return path;
  console.log(`building ${path} (seeded weights)`);
  await mkdir(DIR, { recursive: true });
  await writeModel(path, await buildModel(options));
  return path;
}

function engine(modelPath: string, intraOpThreads: number, computeGate?: ComputeGate): Promise<Engine> {
  return createEngine({
    modelPath,
    executionProvider: 'cpu',
    intraOpThreads,
    allowSpinning: false,
    maxBatchSize: batch,
    maxBatchDelayMs: 0,
    maxQueue: 4 * concurrency,
    defaultDeadlineMs: 120_000,
    ...(computeGate === undefined ? {} : { computeGate }),
  });
}

interface Policy {
  readonly name: string;
  readonly engines: readonly Engine[];
  /** How many of the engines get the load (the others are loaded but idle). */
  readonly busy: number;
}

interface Slice {
  readonly imagesPerSecond: number;
  readonly p99Ms: number;
}

/** `concurrency` images in flight, split evenly over the policy's busy engines, for sliceS seconds. */
async function slice(policy: Policy, tensor: Float32Array): Promise<Slice> {
  const busy = policy.engines.slice(0, policy.busy);
  const share = concurrency / busy.length;
  const runs: DriveResult[] = await Promise.all(busy.map((e) => driveEngine(e, tensor, share, sliceS)));
  const seconds = Math.max(...runs.map((r) => r.seconds));
  const images = runs.reduce((sum, r) => sum + r.images, 0);
  // p99 over both engines' images: weight each engine's p99 by its image count is not a p99, so
  // the larger of the two is reported (the slower model's tail is what its clients see).
  return { imagesPerSecond: images / seconds, p99Ms: Math.max(...runs.map((r) => r.latencyMs.p99)) };
}

async function threadPolicies(): Promise<string[]> {
  const path = await model('resnet50.onnx', {});
  const gate = new ComputeGate();
  const half = Math.max(1, Math.floor(threads / 2));
  const split = [await engine(path, half), await engine(path, half)];
  const gated = [await engine(path, threads, gate), await engine(path, threads, gate)];
  const policies: Policy[] = [
    { name: `one model, ${threads} threads`, engines: [await engine(path, threads)], busy: 1 },
    {
      name: `two models, ${threads} threads each`,
      engines: [await engine(path, threads), await engine(path, threads)],
      busy: 2,
    },
    { name: `two models, ${half} thread(s) each`, engines: split, busy: 2 },
    { name: `two models, ${threads} threads each, shared gate`, engines: gated, busy: 2 },
    { name: `two loaded, one busy, ${half} thread(s) each`, engines: split, busy: 1 },
    { name: 'two loaded, one busy, shared gate', engines: gated, busy: 1 },
  ];
  const tensor = Float32Array.from({ length: IMAGE }, () => Math.random() * 4 - 2);
  const results = new Map<string, Slice[]>(policies.map((p) => [p.name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? policies : [...policies].reverse();
    for (const policy of order) {
      const s = await slice(policy, tensor);
      results.get(policy.name)?.push(s);
      console.log(
        `  round ${round + 1} ${policy.name.padEnd(42)} ${s.imagesPerSecond.toFixed(2).padStart(6)} img/s  p99 ${s.p99Ms.toFixed(0).padStart(5)} ms`,
      );
    }
  }
  const base = results.get(policies[0]?.name ?? '') ?? [];
  const lines = [
    `threads: ${concurrency} images in flight in total, batch ${batch}, ${rounds} rounds of ${sliceS} s (median; ratio to one model per round)`,
  ];
  for (const policy of policies) {
    const slices = results.get(policy.name) ?? [];
    const ratio = (key: keyof Slice) => median(slices.map((s, i) => s[key] / (base[i]?.[key] ?? Number.NaN)));
    lines.push(
      `  ${policy.name}: ${median(slices.map((s) => s.imagesPerSecond)).toFixed(2)} img/s (x${ratio('imagesPerSecond').toFixed(3)}), p99 ${median(slices.map((s) => s.p99Ms)).toFixed(0)} ms (x${ratio('p99Ms').toFixed(3)})`,
    );
  }
  await Promise.all([...new Set(policies.flatMap((p) => p.engines))].map((e) => e.close()));
  return lines;
}

/** Server RSS (MiB) once ready on a repository of `count` models, each a copy of `modelPath` as version 1. */
async function serverRss(modelPath: string, count: number): Promise<number> {
  const root = await mkdtemp(join(tmpdir(), 'bench-models-'));
  try {
    for (let i = 1; i <= count; i++) {
      await mkdir(join(root, `m${i}`, '1'), { recursive: true });
      await link(modelPath, join(root, `m${i}`, '1', 'model.onnx'));
      await copyFile(manifestPathFor(modelPath), join(root, `m${i}`, '1', 'model.json'));
    }
    const env = {
      MODEL_REPOSITORY: root,
      INTRA_OP_THREADS: String(threads),
      MAX_BATCH_SIZE: String(batch),
      LOG_LEVEL: 'warn',
    };
    const { value } = await withServer(
      { modelPath, env, logFile: `${DIR}/bench-models-server.log` },
      async (server) => {
        await sleep(2000);
        return server.rssKiB() / 1024;
      },
    );
    return value;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function memory(name: string, modelPath: string): Promise<string> {
  const rss: number[] = [];
  for (const count of [0, 1, 2, 3]) rss.push(await serverRss(modelPath, count));
  const deltas = rss.slice(1).map((v, i) => v - (rss[i] ?? v));
  return `  ${name}: server RSS with 0-3 models ${rss.map((v) => v.toFixed(0)).join(' / ')} MiB; each model added ${deltas.map((d) => d.toFixed(0)).join(', ')} MiB`;
}

async function main(): Promise<void> {
  console.log(`${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, load ${loadavg().join(' ')}`);
  const tiny = await model('tiny-resnet50.onnx', { width: 0.125, classes: 10, seed: 1 });
  const full = await model('resnet50.onnx', {});
  const mem =
    args.only === 'threads'
      ? []
      : [
          `memory: batch sizes 1-${batch} warmed, ${threads} intra-op threads`,
          await memory('tiny ResNet-50 (width 1/8, 10 classes)', tiny),
          await memory('ResNet-50', full),
        ];
  console.log(mem.join('\n'));
  const summary = [...(args.only === 'memory' ? [] : await threadPolicies()), ...mem];
  console.log(`\n${summary.join('\n')}`);
  await mkdir('load/reports', { recursive: true });
  const file = `load/reports/bench-models-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  await writeFile(file, JSON.stringify({ sliceS, rounds, concurrency, threads, batch, summary }, null, 2));
  console.log(`report: ${file}; load after: ${loadavg().join(' ')}`);
}

await main();
