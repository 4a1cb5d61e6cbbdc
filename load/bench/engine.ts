// `npm run bench:engine`: what the engine costs, side by side in one run on the full ResNet-50.
// 1. Engine (worker thread + batcher) vs session.run() called directly on the main thread, same
//    batch size and session options: images/s (target: the engine costs < 5%), process CPU time
//    per image, and event-loop delay p99 (perf_hooks.monitorEventLoopDelay) while saturated.
// 2. onnxruntime's allow_spinning on vs off: the engine alone, and while the main thread also
//    preprocesses images with sharp, as the server does (spinning threads compete for the cores).
// The machine may be shared, so each comparison is a series of short paired slices (A then B, then
// B then A, ...) and reports the median of the per-pair ratios, which cancels slow drift in load.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { buildModel, writeModel } from '../../src/model/build.ts';
import { manifestPathFor } from '../../src/model/manifest.ts';
import { createEngine, type Engine } from '../../src/model/runtime/engine.ts';
import { sessionOptionsFor } from '../../src/model/runtime/session-options.ts';
import { command, commandLine } from '../lib/cli.ts';
import { DEFAULT_MODEL_PATH } from '../lib/server.ts';
import { median } from '../lib/stats.ts';

const IMAGE = 3 * 224 * 224;
const args = commandLine(
  command({
    name: 'npm run bench:engine',
    summary: 'The engine against session.run() on the main thread, and allow_spinning on vs off, in paired slices.',
    flags: {
      batch: { kind: 'int', min: 1, max: 64, default: 8, help: 'batch size of both sides' },
      slice: { kind: 'int', value: 'S', min: 1, max: 60, default: 4, help: 'seconds per measured slice' },
      pairs: { kind: 'int', min: 1, max: 40, default: 8, help: 'slice pairs per comparison' },
      threads: {
        kind: 'int',
        min: 1,
        max: 64,
        default: availableParallelism(),
        help: 'intra-op threads',
        defaultText: 'the number of cores',
      },
      model: {
        kind: 'string',
        value: 'PATH',
        default: DEFAULT_MODEL_PATH,
        help: 'the full ResNet-50; if missing, one is built from code into /tmp once',
      },
    },
  }),
);
const { batch, slice: sliceS, pairs, threads } = args;

/** Keeps the model busy until `until` (no new work after it) and returns the images completed. */
type Load = (until: number) => Promise<number>;

interface Slice {
  readonly imagesPerSecond: number;
  /** Process CPU time (all threads) per image. */
  readonly cpuMsPerImage: number;
  /** Main-thread busy time (event-loop utilization) per image: what inference takes from HTTP. */
  readonly mainMsPerImage: number;
  /** Event-loop delay p99 (monitorEventLoopDelay) over the slice. */
  readonly loopP99Ms: number;
  readonly sidePerSecond: number;
}

/** The full ResNet-50: the served one when present, else built from code once into /tmp. */
async function resnet50(): Promise<string> {
  if (existsSync(args.model) && existsSync(manifestPathFor(args.model))) return args.model;
  const path = '/tmp/resnet-serve-bench/resnet50.onnx';
  if (existsSync(path) && existsSync(manifestPathFor(path))) return path;
  console.log(`${args.model} not found: building ResNet-50 (seeded weights) into ${path}`);
  await mkdir('/tmp/resnet-serve-bench', { recursive: true });
  await writeModel(path, await buildModel({}));
  return path;
}

function randomImages(count: number): Float32Array {
  return Float32Array.from({ length: count * IMAGE }, () => Math.random() * 4 - 2);
}

/** One slice: the load (and optional side load) for sliceS seconds, measured. */
async function slice(load: Load, side?: Load): Promise<Slice> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  // The histogram records from its second timer tick on; a batch run at once would go unseen.
  await sleep(15);
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  const start = performance.now();
  const until = start + sliceS * 1000;
  const [images, sideCount] = await Promise.all([load(until), side ? side(until) : Promise.resolve(0)]);
  const elapsedS = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const busy = performance.eventLoopUtilization(elu);
  await sleep(15);
  delay.disable();
  return {
    imagesPerSecond: images / elapsedS,
    cpuMsPerImage: (used.user + used.system) / 1000 / images,
    mainMsPerImage: busy.active / images,
    loopP99Ms: delay.percentile(99) / 1e6,
    sidePerSecond: sideCount / elapsedS,
  };
}

function direct(session: ort.InferenceSession): Load {
  const input = new ort.Tensor('float32', randomImages(batch), [batch, 3, 224, 224]);
  return async (until) => {
    let images = 0;
    while (performance.now() < until) {
      await session.run({ input }, ['logits', 'probabilities']);
      images += batch;
    }
    return images;
  };
}

// Twice the batch size in flight: one full batch computing, the next one formed behind it.
function throughEngine(engine: Engine): Load {
  const inputs = Array.from({ length: 2 * batch }, () => randomImages(1));
  return async (until) => {
    let images = 0;
    const loop = async (input: Float32Array) => {
      while (performance.now() < until) {
        await engine.infer(input);
        images++;
      }
    };
    await Promise.all(inputs.map(loop));
    return images;
  };
}

// The server's preprocessing, roughly: decode a 640x480 JPEG, resize, crop, normalize to CHW f32,
// two images at a time.
async function preprocessing(): Promise<Load> {
  // A smooth gradient with some noise: closer to a photo's JPEG than pure noise.
  const pixels = Uint8Array.from({ length: 640 * 480 * 3 }, (_, i) => ((i % 1920) / 8 + Math.random() * 32) & 255);
  const jpeg = await sharp(pixels, { raw: { width: 640, height: 480, channels: 3 } })
    .jpeg()
    .toBuffer();
  const one = async () => {
    const { data } = await sharp(jpeg)
      .resize(341, 256, { kernel: 'linear', fit: 'fill' })
      .extract({ left: 58, top: 16, width: 224, height: 224 })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const out = new Float32Array(IMAGE);
    for (let i = 0; i < 224 * 224; i++)
      for (let c = 0; c < 3; c++) out[c * 224 * 224 + i] = ((data[i * 3 + c] as number) / 255 - 0.45) / 0.225;
  };
  return async (until) => {
    let count = 0;
    const loop = async () => {
      while (performance.now() < until) {
        await one();
        count++;
      }
    };
    await Promise.all([loop(), loop()]);
    return count;
  };
}

interface Comparison {
  readonly name: string;
  readonly a: string;
  readonly b: string;
  readonly slices: { a: Slice[]; b: Slice[] };
}

type Run = () => Promise<Slice>;

/** Alternates A and B slices (AB, BA, AB, ...) `pairs` times. */
async function compare(name: string, [aName, aRun]: [string, Run], [bName, bRun]: [string, Run]): Promise<Comparison> {
  const slices = { a: [] as Slice[], b: [] as Slice[] };
  for (let i = 0; i < pairs; i++) {
    for (const side of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) {
      const s = await (side === 'a' ? aRun : bRun)();
      slices[side].push(s);
      const label = side === 'a' ? aName : bName;
      console.log(
        `  ${label.padEnd(28)} ${s.imagesPerSecond.toFixed(2).padStart(6)} img/s  cpu ${s.cpuMsPerImage.toFixed(0).padStart(4)} ms/img  main thread ${s.mainMsPerImage.toFixed(1).padStart(6)} ms/img  loop p99 ${s.loopP99Ms.toFixed(0).padStart(5)} ms${s.sidePerSecond > 0 ? `  preprocess ${s.sidePerSecond.toFixed(1)}/s` : ''}`,
      );
    }
  }
  return { name, a: aName, b: bName, slices };
}

function summarize(c: Comparison): string[] {
  const ratio = (key: keyof Slice) =>
    median(c.slices.a.map((s, i) => s[key] / ((c.slices.b[i] as Slice)[key] || Number.NaN)));
  const med = (side: Slice[], key: keyof Slice) => median(side.map((s) => s[key]));
  const both = (key: keyof Slice, digits: number) =>
    `${med(c.slices.a, key).toFixed(digits)} vs ${med(c.slices.b, key).toFixed(digits)}`;
  const lines = [
    `${c.name}: ${c.a} / ${c.b} (median of ${pairs} paired ratios; medians in brackets)`,
    `  images/s ${ratio('imagesPerSecond').toFixed(3)} (${both('imagesPerSecond', 2)})`,
    `  process CPU ms per image ${ratio('cpuMsPerImage').toFixed(3)} (${both('cpuMsPerImage', 0)})`,
    `  main-thread busy ms per image: ${both('mainMsPerImage', 1)}`,
    `  event-loop delay p99 ms: ${both('loopP99Ms', 1)}`,
  ];
  if (med(c.slices.a, 'sidePerSecond') > 0)
    lines.push(`  preprocess/s ${ratio('sidePerSecond').toFixed(3)} (${both('sidePerSecond', 1)})`);
  return lines;
}

async function main(): Promise<void> {
  const modelPath = await resnet50();
  console.log(
    `model ${modelPath}; batch ${batch}; intra-op threads ${threads}; ${pairs} pairs of ${sliceS} s slices per comparison`,
  );
  const engineFor = (allowSpinning: boolean) =>
    createEngine({
      modelPath,
      executionProvider: 'cpu',
      intraOpThreads: threads,
      allowSpinning,
      maxBatchSize: batch,
      maxBatchDelayMs: 0,
      maxQueue: 4 * batch,
      defaultDeadlineMs: 120_000,
    });
  const engineOff = await engineFor(false);
  const engineOn = await engineFor(true);
  const session = await ort.InferenceSession.create(
    modelPath,
    sessionOptionsFor({ provider: { name: 'cpu' }, intraOpThreads: threads, allowSpinning: false }),
  );
  await direct(session)(0);
  const side = await preprocessing();

  const comparisons: Comparison[] = [];
  console.log('\n1. engine vs direct session.run on the main thread (allow_spinning off for both)');
  comparisons.push(
    await compare(
      'engine vs direct',
      ['engine', () => slice(throughEngine(engineOff))],
      ['direct session.run', () => slice(direct(session))],
    ),
  );
  console.log('\n2. allow_spinning on vs off, engine alone');
  comparisons.push(
    await compare(
      'spinning, alone',
      ['engine, spinning on', () => slice(throughEngine(engineOn))],
      ['engine, spinning off', () => slice(throughEngine(engineOff))],
    ),
  );
  console.log('\n3. allow_spinning on vs off, engine + sharp preprocessing on the main thread');
  comparisons.push(
    await compare(
      'spinning, with preprocessing',
      ['engine+pre, spinning on', () => slice(throughEngine(engineOn), side)],
      ['engine+pre, spinning off', () => slice(throughEngine(engineOff), side)],
    ),
  );

  const summary = comparisons.flatMap(summarize);
  console.log(`\n${summary.join('\n')}`);
  await mkdir('load/reports', { recursive: true });
  const file = `load/reports/bench-engine-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  await writeFile(file, JSON.stringify({ modelPath, batch, sliceS, pairs, threads, comparisons, summary }, null, 2));
  console.log(`report: ${file}`);
  await Promise.all([engineOff.close(), engineOn.close(), session.release()]);
}

await main();
