// npm run bench:model — our ResNet-50 against torchvision's torch.onnx.export of the same weights,
// both in onnxruntime-node with the same session options, runs interleaved (ABAB... per round, the
// order alternating between rounds) so that load from other processes hits both alike. Prints
// images/s at batch 1 and 8 per model, the ratio ours/torchvision per round and its median, build
// time and file sizes. The exported file lives in test/.tmp/bench-model/ and is never committed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { buildModel } from '../../src/model/build.ts';
import { decodeModel } from '../../src/model/onnx/codec.ts';
import { encodeSafetensors } from '../../src/model/weights/safetensors.ts';
import { command, commandLine } from '../lib/cli.ts';
import { median } from '../lib/stats.ts';

commandLine(
  command({
    name: 'npm run bench:model',
    summary: "Our ResNet-50 against torchvision's ONNX export of the same weights, interleaved rounds.",
    flags: {},
  }),
);

const DIR = 'test/.tmp/bench-model';
const ROUNDS = 7;
const RUNS = { 1: 8, 8: 2 } as const;
const BATCHES = [1, 8] as const;
const PYTHON = '/usr/bin/python3';
const TORCHVISION_EXPORT = 'load/bench/torchvision_export.py';

/** The same seeded weights, unfolded, as torchvision-named tensors (the names already match). */
async function exportTorchvision(): Promise<{ path: string; torchLogits: number[][] }> {
  const unfolded = decodeModel((await buildModel({ foldBatchNorm: false })).onnx);
  const tensors = unfolded.graph.initializers
    .filter((t) => t.dataType === 'float32')
    .map((t) => ({ name: t.name, shape: t.dims, data: new Float32Array(t.rawData.slice().buffer) }));
  writeFileSync(`${DIR}/weights.safetensors`, encodeSafetensors(tensors));
  const path = `${DIR}/torchvision-resnet50.onnx`;
  execFileSync(PYTHON, [TORCHVISION_EXPORT, `${DIR}/weights.safetensors`, path, `${DIR}/torch-logits.json`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return {
    path,
    torchLogits: (JSON.parse(readFileSync(`${DIR}/torch-logits.json`, 'utf8')) as { logits: number[][] }).logits,
  };
}

function probe(): Float32Array {
  // torch.linspace(-2, 2, n) in float32, as load/bench/torchvision_export.py feeds it.
  const n = 2 * 3 * 224 * 224;
  return Float32Array.from({ length: n }, (_, i) => -2 + (4 * i) / (n - 1));
}

async function logits(session: ort.InferenceSession, x: Float32Array, batch: number): Promise<Float32Array> {
  return (await session.run({ input: new ort.Tensor('float32', x, [batch, 3, 224, 224]) })).logits!
    .data as Float32Array;
}

async function imagesPerSecond(session: ort.InferenceSession, batch: 1 | 8): Promise<number> {
  const x = new Float32Array(batch * 3 * 224 * 224).fill(0.5);
  const started = performance.now();
  for (let i = 0; i < RUNS[batch]; i++) await logits(session, x, batch);
  return (RUNS[batch] * batch * 1000) / (performance.now() - started);
}

async function main(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const t0 = performance.now();
  const ours = await buildModel({});
  const buildSeconds = (performance.now() - t0) / 1000;
  writeFileSync(`${DIR}/ours-resnet50.onnx`, ours.onnx);
  const theirs = await exportTorchvision();
  const threads = availableParallelism();
  const options: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
  const sessions = {
    ours: await ort.InferenceSession.create(ours.onnx, options),
    torchvision: await ort.InferenceSession.create(theirs.path, options),
  };

  const p = probe();
  const [a, b] = [await logits(sessions.ours, p, 2), await logits(sessions.torchvision, p, 2)];
  const expected = theirs.torchLogits.flat();
  const maxLogit = Math.max(...expected.map(Math.abs));
  const diffOurs = expected.reduce((m, v, i) => Math.max(m, Math.abs(v - a[i]!)), 0);
  const diffExport = expected.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

  const results: Record<string, { ours: number[]; torchvision: number[]; ratio: number[] }> = {};
  for (const batch of BATCHES) {
    results[batch] = { ours: [], torchvision: [], ratio: [] };
    await imagesPerSecond(sessions.ours, batch);
    await imagesPerSecond(sessions.torchvision, batch);
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? (['torchvision', 'ours'] as const) : (['ours', 'torchvision'] as const);
      const r: Record<string, number> = {};
      for (const name of order) r[name] = await imagesPerSecond(sessions[name], batch);
      results[batch]!.ours.push(r.ours!);
      results[batch]!.torchvision.push(r.torchvision!);
      results[batch]!.ratio.push(r.ours! / r.torchvision!);
    }
  }
  const report = {
    machine: { cores: threads, note: 'shared with other processes; compare the ratio, not absolute numbers' },
    buildSeconds: Number(buildSeconds.toFixed(2)),
    bytes: { ours: ours.onnx.length, torchvision: statSync(theirs.path).size },
    agreement: { maxAbsLogit: maxLogit, oursVsTorch: diffOurs, exportVsTorch: diffExport },
    perBatch: Object.fromEntries(
      Object.entries(results).map(([batch, r]) => [
        batch,
        {
          oursImagesPerSecond: Number(median(r.ours).toFixed(2)),
          torchvisionImagesPerSecond: Number(median(r.torchvision).toFixed(2)),
          ratioMedian: Number(median(r.ratio).toFixed(3)),
          ratioMin: Number(Math.min(...r.ratio).toFixed(3)),
          ratioMax: Number(Math.max(...r.ratio).toFixed(3)),
        },
      ]),
    ),
  };
  mkdirSync('load/reports', { recursive: true });
  writeFileSync('load/reports/bench-model.json', JSON.stringify(report, null, 2) + '\n');
  console.log(JSON.stringify(report, null, 2));
  await sessions.ours.release();
  await sessions.torchvision.release();
}

await main();
