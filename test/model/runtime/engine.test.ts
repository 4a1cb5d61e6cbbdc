// The engine against the real tiny ResNet (built once by test/global-setup.ts) through the real
// worker thread and onnxruntime session.
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createEngine, type Engine, type EngineOptions, type InferResult } from '../../../src/model/runtime/engine.ts';
import type { BatchStat, WorkerStat } from '../../../src/model/runtime/stats.ts';
import { normalizeInto } from '../../../src/preprocess/normalize.ts';
import { WorkerFaults } from './worker-faults.ts';

const modelPath = inject('tinyModelPath');
const IMAGE = 3 * 224 * 224;
const engines: Engine[] = [];

async function engine(options: Partial<EngineOptions> = {}): Promise<Engine> {
  const created = await createEngine({
    modelPath,
    executionProvider: 'cpu',
    intraOpThreads: 1,
    allowSpinning: false,
    maxBatchSize: 4,
    maxBatchDelayMs: 0,
    maxQueue: 64,
    defaultDeadlineMs: 30_000,
    ...options,
  });
  engines.push(created);
  return created;
}

const faults: WorkerFaults[] = [];

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  for (const f of faults) f.close();
});

/** An engine whose worker can be made to die on cue. */
async function faultyEngine(options: Partial<EngineOptions> = {}): Promise<{ e: Engine; fault: WorkerFaults }> {
  const fault = new WorkerFaults();
  faults.push(fault);
  return { e: await engine({ ...options, workerModule: fault.workerModule }), fault };
}

/** A deterministic image-like tensor (values in the normalized range, about -2..2). */
function image(seed: number): Float32Array {
  let state = seed * 2654435761;
  return Float32Array.from({ length: IMAGE }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 4 - 2;
  });
}

/** A deterministic 224x224 RGB crop (HWC bytes). */
function crop(seed: number): Uint8Array {
  let state = seed * 40503;
  return Uint8Array.from({ length: IMAGE }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state >>> 24;
  });
}

/** The tensor preprocessImage makes of a crop: the main-thread path the worker's normalization replaces. */
function tensorOf(e: Engine, pixels: Uint8Array): Float32Array {
  const out = new Float32Array(IMAGE);
  const source = { data: pixels, width: 224, height: 224, left: 0, top: 0 };
  normalizeInto(source, 224, e.manifest.preprocess, out, 0);
  return out;
}

function batchSizes(e: Engine): number[] {
  const sizes: number[] = [];
  e.stats.on('batch', (b: BatchStat) => sizes.push(b.size));
  return sizes;
}

function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1e-3, ...Array.from(expected, Math.abs));
  for (let i = 0; i < expected.length; i++)
    expect(Math.abs((actual[i] as number) - (expected[i] as number))).toBeLessThan(1e-4 * scale);
}

async function singles(e: Engine, images: Float32Array[]): Promise<InferResult[]> {
  const results: InferResult[] = [];
  for (const img of images) results.push(await e.infer(img));
  return results;
}

describe('createEngine on the tiny model', () => {
  it('takes its worker module only as a file: URL', async () => {
    for (const workerModule of [new URL('https://example.com/worker.js'), 'worker.js' as unknown as URL]) {
      await expect(engine({ workerModule })).rejects.toThrow(/Expected `workerModule` to be a file: URL, got `/);
    }
  });

  it('starts ready, on the CPU for `auto`, with the manifest from the sidecar', async () => {
    const e = await engine({ executionProvider: 'auto' });
    expect(e.ready).toBe(true);
    expect(e.provider).toEqual({ name: 'cpu' });
    expect(e.manifest.labels).toHaveLength(10);
    expect(e.manifest.architecture).toMatchObject({ depth: 50, width: 0.125, classes: 10 });
  });

  it('refuses `cuda` on this machine with the install command in the message', async () => {
    await expect(engine({ executionProvider: 'cuda' })).rejects.toThrow(/not installed.*npm run install:cuda/);
  });

  it('rejects invalid options with a message naming the option', async () => {
    await expect(engine({ maxBatchSize: 0 })).rejects.toThrow(
      new TypeError('Expected `maxBatchSize` to be an integer >= 1, got `0` (number)'),
    );
    await expect(engine({ intraOpThreads: 0 })).rejects.toThrow(
      new TypeError('Expected `intraOpThreads` to be an integer >= 1, got `0` (number)'),
    );
    await expect(engine({ instances: 0 })).rejects.toThrow(
      new TypeError('Expected `instances` to be an integer >= 1, got `0` (number)'),
    );
  });

  it('fails clearly when the sidecar manifest is missing or the model cannot be loaded', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'engine-'));
    try {
      await expect(engine({ modelPath: path.join(dir, 'absent.onnx') })).rejects.toThrow(
        /Cannot read the manifest of .*absent\.onnx at .*absent\.json/,
      );
      const broken = path.join(dir, 'broken.onnx');
      writeFileSync(broken, 'not an onnx file');
      copyFileSync(modelPath.replace(/\.onnx$/, '.json'), path.join(dir, 'broken.json'));
      await expect(engine({ modelPath: broken })).rejects.toThrow(/^The inference worker could not start: .*/);
      // The right file format, the wrong manifest: one label too many for the model's outputs.
      const mismatched = path.join(dir, 'mismatched.onnx');
      copyFileSync(modelPath, mismatched);
      const manifest = JSON.parse(readFileSync(modelPath.replace(/\.onnx$/, '.json'), 'utf8'));
      manifest.labels = [...manifest.labels, 'extra'];
      for (const output of manifest.outputs) output.shape = [-1, manifest.labels.length];
      writeFileSync(path.join(dir, 'mismatched.json'), JSON.stringify(manifest));
      await expect(engine({ modelPath: mismatched })).rejects.toThrow(
        /gives 10 values per image in `\w+`, but its manifest lists 11 labels/,
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('Inference through the worker', () => {
  it('gives batched images the same outputs as the same images run alone', async () => {
    const e = await engine({ maxBatchSize: 4 });
    const sizes = batchSizes(e);
    const images = [1, 2, 3, 4].map(image);
    const alone = await singles(e, images);
    // The first request runs alone; the four that arrive while it computes form one batch.
    const [, ...batched] = await Promise.all([image(9), ...images].map((img) => e.infer(img)));
    expect(sizes).toEqual([1, 1, 1, 1, 1, 4]);
    batched.forEach((result, i) => {
      const reference = alone[i] as InferResult;
      expect(result.logits).toHaveLength(10);
      expectClose(result.logits, reference.logits);
      expectClose(result.probabilities, reference.probabilities);
      expect(result.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    });
    expect(batched[0]?.logits).not.toEqual(batched[1]?.logits);
    // The batch buffer is reused: single images after a full batch see none of its leftovers.
    const after = await singles(e, [...images].reverse());
    after.reverse().forEach((result, i) => expectClose(result.logits, (alone[i] as InferResult).logits));
  });

  it('classifies 8-bit crops as the tensors normalized on the main thread, alone and batched with tensors', async () => {
    const e = await engine({ maxBatchSize: 4 });
    const sizes = batchSizes(e);
    const crops = [1, 2, 3].map(crop);
    const reference = await singles(
      e,
      crops.map((c) => tensorOf(e, c)),
    );
    const alone = [];
    for (const c of crops) alone.push(await e.inferPixels(c));
    alone.forEach((result, i) => expectClose(result.logits, (reference[i] as InferResult).logits));
    // One batch of crops and tensors interleaved: each slot is normalized or copied as its kind says.
    const [, ...mixed] = await Promise.all([
      e.infer(image(9)),
      e.inferPixels(crops[0] as Uint8Array),
      e.infer(tensorOf(e, crops[1] as Uint8Array)),
      e.inferPixels(crops[2] as Uint8Array),
      e.infer(image(5)),
    ]);
    expect(sizes.slice(-2)).toEqual([1, 4]);
    mixed.slice(0, 3).forEach((result, i) => expectClose(result.logits, (reference[i] as InferResult).logits));
    expectClose((mixed[3] as InferResult).logits, (await e.infer(image(5))).logits);
  });

  it("reports each batch's input writing and worker transfer, apart from the time inside the worker", async () => {
    const e = await engine({ maxBatchSize: 4 });
    const stats: WorkerStat[] = [];
    const batches: BatchStat[] = [];
    e.stats.on('worker', (s) => stats.push(s));
    e.stats.on('batch', (b) => batches.push(b));
    await Promise.all([1, 2, 3, 4].map((i) => e.inferPixels(crop(i))));
    expect(stats.map((s) => s.size)).toEqual(batches.map((b) => b.size));
    for (const [i, s] of stats.entries()) {
      // Normalizing crops takes measurable time; both parts fit inside the batch's round trip.
      expect(s.inputSeconds).toBeGreaterThan(0);
      expect(s.transferSeconds).toBeGreaterThanOrEqual(0);
      expect(s.inputSeconds + s.transferSeconds).toBeLessThanOrEqual((batches[i] as BatchStat).computeSeconds);
    }
  });

  it('gives each queued crop its own slot and frees it when the image settles, refused or not', async () => {
    const e = await engine({ maxBatchSize: 1, maxQueue: 2 });
    const crops = [11, 12, 13, 14, 15, 16].map(crop);
    const reference = await singles(
      e,
      crops.map((c) => tensorOf(e, c)),
    );
    for (let wave = 0; wave < 3; wave++) {
      const outcomes = await Promise.allSettled(crops.map((c) => e.inferPixels(c)));
      const codes = outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as { code: string }).code));
      // One computing, two queued: the crops behind them are refused, and their slots come back.
      expect(codes).toEqual(['ok', 'ok', 'ok', 'QUEUE_FULL', 'QUEUE_FULL', 'QUEUE_FULL']);
      outcomes.slice(0, 3).forEach((o, i) => {
        expectClose((o as PromiseFulfilledResult<InferResult>).value.logits, (reference[i] as InferResult).logits);
      });
    }
  });

  it('rejects a crop of the wrong size or type with INVALID_TENSOR without computing it', async () => {
    const e = await engine();
    const sizes = batchSizes(e);
    await expect(e.inferPixels(new Uint8Array(10))).rejects.toMatchObject({
      code: 'INVALID_TENSOR',
      message: expect.stringMatching(/expected a Uint8Array of 150528 bytes \[224, 224, 3\], got 10 values/),
    });
    await expect(e.inferPixels(new Float32Array(IMAGE) as never)).rejects.toMatchObject({
      code: 'INVALID_TENSOR',
      message: expect.stringMatching(/got Float32Array$/),
    });
    expect(sizes).toEqual([]);
  });

  it('rejects an input of the wrong size with INVALID_TENSOR without computing it', async () => {
    const e = await engine();
    const sizes = batchSizes(e);
    await expect(e.infer(new Float32Array(10))).rejects.toMatchObject({ code: 'INVALID_TENSOR', statusCode: 400 });
    await expect(e.infer([1, 2, 3] as never)).rejects.toMatchObject({ code: 'INVALID_TENSOR' });
    expect(sizes).toEqual([]);
  });

  it('rejects with QUEUE_FULL beyond maxQueue queued requests', async () => {
    const e = await engine({ maxBatchSize: 1, maxQueue: 2 });
    const outcomes = await Promise.allSettled([1, 2, 3, 4, 5].map((s) => e.infer(image(s))));
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as { code: string }).code))).toEqual([
      'ok',
      'ok',
      'ok',
      'QUEUE_FULL',
      'QUEUE_FULL',
    ]);
  });
});

describe('Instances', () => {
  it('computes a batch on each of two instances at once, tensors and crops as one instance does', async () => {
    const one = await engine({ maxBatchSize: 2 });
    const two = await engine({ maxBatchSize: 2, instances: 2 });
    const inputs = [1, 2, 3, 4, 5, 6].map((seed) => (seed % 2 === 0 ? image(seed) : crop(seed)));
    const run = (e: Engine, input: Float32Array | Uint8Array) =>
      input instanceof Float32Array ? e.infer(input) : e.inferPixels(input);
    const reference: InferResult[] = [];
    for (const input of inputs) reference.push(await run(one, input));
    const spans: [number, number][] = [];
    two.stats.on('batch', (b: BatchStat) =>
      spans.push([performance.now() - b.computeSeconds * 1000, performance.now()]),
    );
    const results = await Promise.all(inputs.map((input) => run(two, input)));
    results.forEach((result, i) => expectClose(result.logits, (reference[i] as InferResult).logits));
    // The first two requests were dispatched in one tick, one to each instance: their batches overlap.
    const [first, second] = spans as [[number, number], [number, number]];
    expect(second[0]).toBeLessThan(first[1]);
    expect(spans.length).toBeLessThan(inputs.length);
  });

  it('keeps serving on the other instance while one restarts, failing only the batch it held', async () => {
    const { e, fault } = await faultyEngine({ maxBatchSize: 2, instances: 2 });
    const readiness: boolean[] = [];
    const restarts: unknown[] = [];
    e.stats.on('readiness', (r) => readiness.push(r));
    e.stats.on('workerRestart', (info) => restarts.push(info));
    const images = [1, 2, 3, 4, 5, 6].map(image);
    const reference = await singles(e, images);
    await fault.exitAfterNextBatch(70, { oneWorker: true });
    const outcomes = await Promise.allSettled(images.map((img) => e.infer(img)));
    const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []));
    // Whichever instance took the fault lost its next batch (one or two images); the rest were answered.
    expect([1, 2], `failed: ${failed.join(', ')}; restarts: ${JSON.stringify(restarts)}`).toContain(failed.length);
    for (const i of failed)
      expect((outcomes[i] as PromiseRejectedResult).reason).toMatchObject({ code: 'WORKER_FAILED' });
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') expectClose(o.value.logits, (reference[i] as InferResult).logits);
    });
    expect(restarts).toEqual([{ exitCode: 70, message: 'worker thread exited with code 70' }]);
    // One instance stayed up throughout, so the engine never stopped being ready.
    expect(readiness).toEqual([]);
    expect(e.ready).toBe(true);
  });

  it('goes unready only when every instance is down', async () => {
    const { e, fault } = await faultyEngine({ instances: 2 });
    const readiness: boolean[] = [];
    e.stats.on('readiness', (r) => readiness.push(r));
    const backUp = new Promise<void>((resolve) => e.stats.on('readiness', (r) => r && resolve()));
    let died = 0;
    const bothDied = new Promise<void>((resolve) => e.stats.on('workerRestart', () => ++died === 2 && resolve()));
    fault.exitNow(1);
    await bothDied;
    expect(e.ready).toBe(false);
    await backUp;
    expect(readiness).toEqual([false, true]);
    await expect(e.infer(image(1))).resolves.toMatchObject({ logits: expect.any(Float32Array) });
  });
});

describe('Worker failure and shutdown', () => {
  it('fails only the batch the worker held when it dies, restarts it and serves the queued requests', async () => {
    const { e, fault } = await faultyEngine({ maxBatchSize: 2 });
    const readiness: boolean[] = [];
    const restarts: unknown[] = [];
    e.stats.on('readiness', (r) => readiness.push(r));
    e.stats.on('workerRestart', (info) => restarts.push(info));
    const images = [1, 2, 3, 4, 5].map(image);
    const reference = await singles(e, images);
    await fault.exitAfterNextBatch(70);
    const outcomes = await Promise.allSettled(images.map((img) => e.infer(img)));
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as { code: string }).code))).toEqual([
      'WORKER_FAILED',
      'ok',
      'ok',
      'ok',
      'ok',
    ]);
    outcomes
      .slice(1)
      .forEach((o, i) =>
        expectClose((o as PromiseFulfilledResult<InferResult>).value.logits, (reference[i + 1] as InferResult).logits),
      );
    expect(restarts).toEqual([{ exitCode: 70, message: 'worker thread exited with code 70' }]);
    expect(readiness).toEqual([false, true]);
    expect(e.ready).toBe(true);
    expectClose((await e.infer(images[0] as Float32Array)).logits, (reference[0] as InferResult).logits);
  });

  it('restarts a worker killed while idle and turns ready again', async () => {
    const { e, fault } = await faultyEngine();
    const ready = new Promise<boolean>((resolve) => e.stats.on('readiness', (r) => r && resolve(r)));
    const died = once(e.stats, 'workerRestart');
    fault.exitNow(1);
    await died;
    expect(e.ready).toBe(false);
    await expect(ready).resolves.toBe(true);
    await expect(e.infer(image(1))).resolves.toMatchObject({ logits: expect.any(Float32Array) });
  });

  it('close stops intake, finishes queued and running work, and ends the worker', async () => {
    // A delay longer than the test timeout: the last request only completes if close() flushes it.
    const e = await engine({ maxBatchSize: 2, maxBatchDelayMs: 120_000 });
    const pending = [1, 2, 3].map((s) => e.infer(image(s)));
    const closing = e.close();
    expect(e.ready).toBe(false);
    await expect(e.infer(image(4))).rejects.toMatchObject({ code: 'SHUTTING_DOWN', statusCode: 503 });
    const results = await Promise.all(pending);
    expect(results.map((r) => r.logits.length)).toEqual([10, 10, 10]);
    await closing;
    await expect(e.close()).resolves.toBeUndefined();
  });
});
