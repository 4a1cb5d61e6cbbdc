// `npm run bench:engine`: what the engine costs, side by side in one run on the full ResNet-50.
// 1. Throughput: images/s of the engine (worker thread + batcher) vs session.run() called directly
//    on the main thread at the same batch size (target: the engine costs < 5%).
// 2. Event-loop delay p99 (perf_hooks.monitorEventLoopDelay) while saturated, for both.
// 3. onnxruntime's allow_spinning on vs off: alone, and while the main thread also preprocesses
//    images with sharp, as the server does (spinning threads compete for the same cores).
// Configurations run in interleaved rounds (the machine may be shared); medians are reported.
// Options: --batch 8 --seconds 6 --rounds 3 --threads <cores> --model <path.onnx>
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { buildModel, writeModel } from '../src/model/build.ts';
import { manifestPathFor } from '../src/model/manifest.ts';
import { createEngine, type Engine } from '../src/model/runtime/engine.ts';
import { sessionOptionsFor } from '../src/model/runtime/session-options.ts';

const IMAGE = 3 * 224 * 224;
const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    model: { type: 'string', default: 'models/resnet50.onnx' },
  },
});
const batch = boundedInt('batch', args.batch, 1, 64);
const seconds = boundedInt('seconds', args.seconds, 1, 60);
const rounds = boundedInt('rounds', args.rounds, 1, 10);
const threads = boundedInt('threads', args.threads, 1, 64);

function boundedInt(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got ${text}`);
  return value;
}

interface Sample {
  readonly imagesPerSecond: number;
  readonly loopP99Ms: number;
  /** Preprocessed images/s of the concurrent sharp load, when there is one. */
  readonly sidePerSecond?: number;
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

/** Runs `work` until the deadline while measuring event-loop delay; returns images/s and p99. */
async function measure(work: (until: number) => Promise<number>, side?: (until: number) => Promise<number>): Promise<Sample> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const start = performance.now();
  const until = start + seconds * 1000;
  const [images, sideCount] = await Promise.all([work(until), side ? side(until) : Promise.resolve(undefined)]);
  const elapsed = (performance.now() - start) / 1000;
  histogram.disable();
  const sample = { imagesPerSecond: images / elapsed, loopP99Ms: histogram.percentile(99) / 1e6 };
  return sideCount === undefined ? sample : { ...sample, sidePerSecond: sideCount / elapsed };
}

function direct(session: ort.InferenceSession): (until: number) => Promise<number> {
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
function throughEngine(engine: Engine): (until: number) => Promise<number> {
  return async (until) => {
    let images = 0;
    const loop = async (input: Float32Array) => {
      while (performance.now() < until) {
        await engine.infer(input);
        images++;
      }
    };
    await Promise.all(Array.from({ length: 2 * batch }, () => loop(randomImages(1))));
    return images;
  };
}

// The server's preprocessing, roughly: decode a 640x480 JPEG, resize, crop, normalize to CHW f32.
async function preprocessLoad(): Promise<(until: number) => Promise<number>> {
  // A smooth gradient with some noise: closer to a photo's JPEG than pure noise.
  const pixels = Uint8Array.from({ length: 640 * 480 * 3 }, (_, i) => ((i % 1920) / 8 + Math.random() * 32) & 255);
  const jpeg = await sharp(pixels, { raw: { width: 640, height: 480, channels: 3 } }).jpeg().toBuffer();
  const one = async () => {
    const { data } = await sharp(jpeg).resize(341, 256, { kernel: 'linear', fit: 'fill' }).extract({ left: 58, top: 16, width: 224, height: 224 }).raw().toBuffer({ resolveWithObject: true });
    const out = new Float32Array(IMAGE);
    for (let i = 0; i < 224 * 224; i++) for (let c = 0; c < 3; c++) out[c * 224 * 224 + i] = ((data[i * 3 + c] as number) / 255 - 0.45) / 0.225;
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

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function main(): Promise<void> {
  const modelPath = await resnet50();
  console.log(`model ${modelPath}; batch ${batch}; intra-op threads ${threads}; ${rounds} rounds x ${seconds} s per configuration`);
  const engineFor = (allowSpinning: boolean) =>
    createEngine({ modelPath, executionProvider: 'cpu', intraOpThreads: threads, allowSpinning, maxBatchSize: batch, maxBatchDelayMs: 0, maxQueue: 4 * batch, defaultDeadlineMs: 120_000 });
  const sessionFor = (allowSpinning: boolean) => ort.InferenceSession.create(modelPath, sessionOptionsFor({ provider: { name: 'cpu' }, intraOpThreads: threads, allowSpinning }));
  const [engineOff, engineOn] = [await engineFor(false), await engineFor(true)];
  const [sessionOff, sessionOn] = [await sessionFor(false), await sessionFor(true)];
  const side = await preprocessLoad();
  for (const s of [sessionOff, sessionOn]) await direct(s)(0);

  const configs: [string, () => Promise<Sample>][] = [
    ['direct session.run, spinning off', () => measure(direct(sessionOff))],
    ['engine, spinning off', () => measure(throughEngine(engineOff))],
    ['direct session.run, spinning on', () => measure(direct(sessionOn))],
    ['engine, spinning on', () => measure(throughEngine(engineOn))],
    ['preprocessing alone', () => measure(async () => 0, side)],
    ['engine + preprocessing, spinning off', () => measure(throughEngine(engineOff), side)],
    ['engine + preprocessing, spinning on', () => measure(throughEngine(engineOn), side)],
  ];
  const samples = new Map<string, Sample[]>(configs.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round so no configuration always runs first or last.
    for (let i = 0; i < configs.length; i++) {
      const [name, run] = configs[(i + round) % configs.length] as [string, () => Promise<Sample>];
      const sample = await run();
      samples.get(name)?.push(sample);
      console.log(`round ${round + 1}  ${name.padEnd(38)} ${sample.imagesPerSecond.toFixed(2).padStart(7)} img/s  loop p99 ${sample.loopP99Ms.toFixed(1).padStart(7)} ms${sample.sidePerSecond === undefined ? '' : `  preprocess ${sample.sidePerSecond.toFixed(1)}/s`}`);
    }
  }
  await report(samples);
  await Promise.all([engineOff.close(), engineOn.close(), sessionOff.release(), sessionOn.release()]);
}

async function report(samples: Map<string, Sample[]>): Promise<void> {
  const med = (name: string, key: keyof Sample) => median((samples.get(name) ?? []).map((s) => s[key] ?? Number.NaN));
  const ratio = (a: string, b: string) => med(a, 'imagesPerSecond') / med(b, 'imagesPerSecond');
  console.log('\nmedians');
  for (const name of samples.keys()) {
    const sidePart = Number.isNaN(med(name, 'sidePerSecond')) ? '' : `  preprocess ${med(name, 'sidePerSecond').toFixed(1)}/s`;
    console.log(`  ${name.padEnd(38)} ${med(name, 'imagesPerSecond').toFixed(2).padStart(7)} img/s  loop p99 ${med(name, 'loopP99Ms').toFixed(1).padStart(7)} ms${sidePart}`);
  }
  const lines = [
    `engine / direct images/s, spinning off: ${ratio('engine, spinning off', 'direct session.run, spinning off').toFixed(3)} (target >= 0.95)`,
    `engine / direct images/s, spinning on:  ${ratio('engine, spinning on', 'direct session.run, spinning on').toFixed(3)} (target >= 0.95)`,
    `event-loop p99, direct / engine (spinning off): ${(med('direct session.run, spinning off', 'loopP99Ms') / med('engine, spinning off', 'loopP99Ms')).toFixed(1)}x`,
    `spinning on / off, engine alone: ${ratio('engine, spinning on', 'engine, spinning off').toFixed(3)}`,
    `spinning on / off, engine with preprocessing: ${ratio('engine + preprocessing, spinning on', 'engine + preprocessing, spinning off').toFixed(3)} img/s, ` +
      `${(med('engine + preprocessing, spinning on', 'sidePerSecond') / med('engine + preprocessing, spinning off', 'sidePerSecond')).toFixed(3)} preprocess/s`,
  ];
  console.log(`\n${lines.join('\n')}`);
  await mkdir('load/reports', { recursive: true });
  const file = `load/reports/bench-engine-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  await writeFile(file, JSON.stringify({ batch, seconds, rounds, threads, samples: Object.fromEntries(samples), summary: lines }, null, 2));
  console.log(`report: ${file}`);
}

await main();
