// npm run bench:model [-- --depth 50 --against int8|torchvision]
// Two ResNets in onnxruntime-node with the service's session options (src/model/runtime/
// session-options.ts: all cores, no spinning), runs interleaved (AB BA AB ... per round, the order
// alternating between rounds) so that load from other processes hits both alike. Prints images/s
// and CPU ms per image (process CPU time: onnxruntime's threads are this process's) at batch 1 and 8
// per model, the ratio per round and its median, build times and file sizes.
//   --against int8 (default): FP32 against int8 of the same seeded weights (calibrated on the
//     built-in set). The ratio is int8 / FP32 images/s.
//   --against torchvision: our FP32 against torchvision's torch.onnx.export of the same weights,
//     checked to agree with torch's logits. The ratio is ours / torchvision.
// Exported and built files live in test/.tmp/bench-model/ and are never committed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import * as ort from 'onnxruntime-node';
import { buildModel, type BuildOptions } from '../../src/model/build.ts';
import { decodeModel } from '../../src/model/onnx/codec.ts';
import { sessionOptionsFor } from '../../src/model/runtime/session-options.ts';
import { referenceInput } from '../../src/model/self-check.ts';
import { encodeSafetensors } from '../../src/model/weights/safetensors.ts';
import { command, commandLine } from '../lib/cli.ts';
import { median } from '../lib/stats.ts';

const DIR = 'test/.tmp/bench-model';
const ROUNDS = 7;
const RUNS = { 1: 8, 8: 2 } as const;
const BATCHES = [1, 8] as const;
const PYTHON = '/usr/bin/python3';
const IMAGE = 3 * 224 * 224;
const TORCHVISION_EXPORT = 'load/bench/torchvision_export.py';

interface Contender {
  readonly name: string;
  readonly model: string;
  readonly buildSeconds?: number;
}

/** The same seeded weights, unfolded, as torchvision-named tensors (the names already match). */
async function exportTorchvision(depth: BuildOptions['depth']): Promise<{ path: string; torchLogits: number[][] }> {
  const unfolded = decodeModel((await buildModel({ depth, foldBatchNorm: false })).onnx);
  const tensors = unfolded.graph.initializers
    .filter((t) => t.dataType === 'float32')
    .map((t) => ({ name: t.name, shape: t.dims, data: new Float32Array(t.rawData.slice().buffer) }));
  writeFileSync(`${DIR}/weights.safetensors`, encodeSafetensors(tensors));
  const path = `${DIR}/torchvision-resnet${depth}.onnx`;
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
  const n = 2 * IMAGE;
  return Float32Array.from({ length: n }, (_, i) => -2 + (4 * i) / (n - 1));
}

async function logits(session: ort.InferenceSession, x: Float32Array, batch: number): Promise<Float32Array> {
  return (await session.run({ input: new ort.Tensor('float32', x, [batch, 3, 224, 224]) })).logits!
    .data as Float32Array;
}

/** Builds a model in memory, writes it to DIR and says how long the build took. */
async function built(name: string, options: Partial<BuildOptions>): Promise<Contender> {
  const started = performance.now();
  const { onnx } = await buildModel(options);
  const buildSeconds = (performance.now() - started) / 1000;
  const model = `${DIR}/${name}.onnx`;
  writeFileSync(model, onnx);
  return { name, model, buildSeconds };
}

/** Images/s and CPU ms per image for RUNS[batch] runs of one batch size. */
async function measure(session: ort.InferenceSession, batch: 1 | 8): Promise<{ rate: number; cpuMs: number }> {
  const x = new Float32Array(batch * IMAGE);
  for (let i = 0; i < batch; i++) x.set(referenceInput(224, 224), i * IMAGE);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < RUNS[batch]; i++) await logits(session, x, batch);
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const images = RUNS[batch] * batch;
  return { rate: (images * 1000) / elapsed, cpuMs: (used.user + used.system) / 1000 / images };
}

const round3 = (x: number): number => Number(x.toFixed(3));

async function compare(a: Contender, b: Contender, threads: number) {
  const options = sessionOptionsFor({ provider: { name: 'cpu' }, intraOpThreads: threads, allowSpinning: false });
  const sessions = [
    await ort.InferenceSession.create(a.model, options),
    await ort.InferenceSession.create(b.model, options),
  ];
  const perBatch: Record<string, unknown> = {};
  for (const batch of BATCHES) {
    const rows = [0, 1].map(() => ({ rate: [] as number[], cpuMs: [] as number[] }));
    const ratio: number[] = [];
    for (const s of sessions) await measure(s, batch);
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? [1, 0] : [0, 1];
      const r: { rate: number; cpuMs: number }[] = [];
      for (const i of order) r[i] = await measure(sessions[i]!, batch);
      r.forEach((m, i) => (rows[i]!.rate.push(m.rate), rows[i]!.cpuMs.push(m.cpuMs)));
      ratio.push(r[1]!.rate / r[0]!.rate);
    }
    perBatch[batch] = {
      [`${a.name}ImagesPerSecond`]: round3(median(rows[0]!.rate)),
      [`${b.name}ImagesPerSecond`]: round3(median(rows[1]!.rate)),
      [`${a.name}CpuMsPerImage`]: Math.round(median(rows[0]!.cpuMs)),
      [`${b.name}CpuMsPerImage`]: Math.round(median(rows[1]!.cpuMs)),
      [`ratio${b.name}Over${a.name}`]: {
        median: round3(median(ratio)),
        min: round3(Math.min(...ratio)),
        max: round3(Math.max(...ratio)),
      },
    };
  }
  await Promise.all(sessions.map((s) => s.release()));
  return perBatch;
}

async function torchvisionAgreement(ours: Contender, depth: BuildOptions['depth']) {
  const theirs = await exportTorchvision(depth);
  const [sa, sb] = [await ort.InferenceSession.create(ours.model), await ort.InferenceSession.create(theirs.path)];
  const p = probe();
  const [a, b] = [await logits(sa, p, 2), await logits(sb, p, 2)];
  await Promise.all([sa.release(), sb.release()]);
  const expected = theirs.torchLogits.flat();
  const diff = (x: Float32Array): number => expected.reduce((m, v, i) => Math.max(m, Math.abs(v - x[i]!)), 0);
  const agreement = { maxAbsLogit: Math.max(...expected.map(Math.abs)), oursVsTorch: diff(a), exportVsTorch: diff(b) };
  const contender: Contender = { name: 'torchvision', model: theirs.path };
  return { contender, agreement };
}

const COMMAND = command({
  name: 'npm run bench:model',
  summary:
    "int8 against FP32 of the same weights (default), or our FP32 against torchvision's ONNX export; interleaved rounds.",
  flags: {
    depth: { kind: 'choice', choices: ['18', '34', '50', '101', '152'], default: '50', help: 'ResNet depth' },
    against: { kind: 'choice', choices: ['int8', 'torchvision'], default: 'int8', help: 'what FP32 is compared with' },
  },
});

async function main(): Promise<void> {
  const values = commandLine(COMMAND);
  const depth = Number(values.depth) as BuildOptions['depth'];
  const { against } = values;
  mkdirSync(DIR, { recursive: true });
  const fp32 = await built(`fp32-resnet${depth}`, { depth });
  const other =
    against === 'int8'
      ? { contender: await built(`int8-resnet${depth}`, { depth, precision: 'int8' }), agreement: undefined }
      : await torchvisionAgreement(fp32, depth);
  // b is the model the ratio is about: int8 / FP32, or ours / torchvision's export.
  const [a, b] =
    against === 'int8'
      ? [
          { ...fp32, name: 'Fp32' },
          { ...other.contender, name: 'Int8' },
        ]
      : [
          { ...other.contender, name: 'Torchvision' },
          { ...fp32, name: 'Ours' },
        ];
  const threads = availableParallelism();
  const loadBefore = loadavg();
  const perBatch = await compare(a, b, threads);
  const report = {
    machine: {
      cpu: cpus()[0]?.model,
      cores: threads,
      loadAverage: { before: loadBefore.map(round3), after: loadavg().map(round3) },
      note: 'shared with other processes; compare the ratio, not absolute numbers',
    },
    depth,
    against,
    buildSeconds: Object.fromEntries(
      [a, b].filter((c) => c.buildSeconds).map((c) => [c.name, round3(c.buildSeconds!)]),
    ),
    bytes: { [a.name]: statSync(a.model).size, [b.name]: statSync(b.model).size },
    ...(other.agreement && { agreement: other.agreement }),
    perBatch,
  };
  mkdirSync('load/reports', { recursive: true });
  writeFileSync(`load/reports/bench-model-${against}.json`, JSON.stringify(report, null, 2) + '\n');
  console.log(JSON.stringify(report, null, 2));
}

await main();
