// npm run fidelity:int8 -- [--depth 18,50,101] [--width 1] [--weights FILE | --recalibrate-bn] [--calibration DIR]
// Builds FP32 and int8 models of the same weights in memory, runs both in onnxruntime-node over the
// parity fixtures (test/fixtures/images: structured, photo-like, never calibration images) through
// the service's preprocessing, and prints per-depth fidelity: cosine of the logits, max|dlogit| /
// max|logit|, top-1 agreement and top-5 overlap (src/model/quantize/fidelity.ts). The model card's
// fidelity table comes from this script. --recalibrate-bn replaces the seeded BatchNorm statistics by
// the ones measured on the built-in calibration photos (scripts/fixtures/recalibrate_bn.py, torch),
// which makes the logits of different images differ as a trained network's do.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { buildModel, type BuildOptions } from '../src/model/build.ts';
import { decodeModel } from '../src/model/onnx/codec.ts';
import { calibrationFiles } from '../src/model/quantize/calibration-images.ts';
import { fidelity, type Fidelity } from '../src/model/quantize/fidelity.ts';
import { encodeSafetensors } from '../src/model/weights/safetensors.ts';
import { IMAGENET_PRESET, preprocessImage } from '../src/preprocess/index.ts';

const FIXTURES = 'test/fixtures/images/';

export async function fixtureTensors(): Promise<{ name: string; tensor: Float32Array }[]> {
  const out = [];
  for (const name of readdirSync(FIXTURES).sort()) {
    if (!/\.(png|jpe?g|webp|gif|tiff)$/i.test(name)) continue;
    const bytes = readFileSync(FIXTURES + name);
    out.push({
      name,
      tensor: await preprocessImage(bytes, { preset: IMAGENET_PRESET, maxImageBytes: 1 << 26, maxImagePixels: 1e8 }),
    });
  }
  return out;
}

async function logitsOf(onnx: Uint8Array, tensors: readonly Float32Array[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(onnx);
  const out = [];
  for (const x of tensors)
    out.push(
      (await session.run({ input: new ort.Tensor('float32', x, [1, 3, 224, 224]) })).logits!.data as Float32Array,
    );
  await session.release();
  return out;
}

/** Seeded weights of this depth with BatchNorm statistics measured on the built-in calibration set. */
async function recalibratedWeights(depth: BuildOptions['depth'], classes: number): Promise<string> {
  const dir = 'test/.tmp/int8-fidelity';
  mkdirSync(dir, { recursive: true });
  const unfolded = decodeModel((await buildModel({ depth, classes, foldBatchNorm: false })).onnx);
  const tensors = unfolded.graph.initializers
    .filter((t) => t.dataType === 'float32')
    .map((t) => ({ name: t.name, shape: t.dims, data: new Float32Array(t.rawData.slice().buffer) }));
  const [seeded, recalibrated] = [`${dir}/resnet${depth}-seeded.safetensors`, `${dir}/resnet${depth}-bn.safetensors`];
  writeFileSync(seeded, encodeSafetensors(tensors));
  const images = await calibrationFiles(undefined, undefined);
  execFileSync(
    '/usr/bin/python3',
    ['scripts/fixtures/recalibrate_bn.py', String(depth), String(classes), seeded, recalibrated, ...images],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return recalibrated;
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

function summary(rows: Fidelity[]) {
  const cos = rows.map((r) => r.cosine);
  const rel = rows.map((r) => r.relativeMaxDiff);
  return {
    cosineMin: Math.min(...cos).toFixed(4),
    cosineMedian: median(cos).toFixed(4),
    relMedian: median(rel).toFixed(4),
    relMax: Math.max(...rel).toFixed(4),
    top1: `${rows.filter((r) => r.top1Agrees).length}/${rows.length}`,
    top5Mean: (rows.reduce((s, r) => s + r.top5Overlap, 0) / rows.length).toFixed(2),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      depth: { type: 'string' },
      width: { type: 'string' },
      weights: { type: 'string' },
      calibration: { type: 'string' },
      classes: { type: 'string' },
      'recalibrate-bn': { type: 'boolean' },
    },
  });
  const images = await fixtureTensors();
  for (const depth of (values.depth ?? '18,50,101').split(',').map(Number)) {
    const classes = Number(values.classes ?? 1000);
    if (values['recalibrate-bn'] && Number(values.width ?? 1) !== 1)
      throw new Error('--recalibrate-bn builds torchvision ResNets, which have width 1');
    const options: Partial<BuildOptions> = {
      depth: depth as BuildOptions['depth'],
      width: Number(values.width ?? 1),
      classes,
      weightsFile: values['recalibrate-bn']
        ? await recalibratedWeights(depth as BuildOptions['depth'], classes)
        : values.weights,
    };
    const started = performance.now();
    const int8 = await buildModel({ ...options, precision: 'int8', calibrationDir: values.calibration });
    const int8Seconds = (performance.now() - started) / 1000;
    const fp32 = await buildModel(options);
    const a = await logitsOf(
      fp32.onnx,
      images.map((i) => i.tensor),
    );
    const b = await logitsOf(
      int8.onnx,
      images.map((i) => i.tensor),
    );
    const rows = a.map((x, i) => fidelity(x, b[i]!));
    const maxLogit = Math.max(...a.map((x) => Math.max(...Array.from(x, Math.abs))));
    console.log(
      JSON.stringify({
        depth,
        images: rows.length,
        maxAbsLogit: maxLogit.toFixed(3),
        int8BuildSeconds: int8Seconds.toFixed(1),
        ...summary(rows),
      }),
    );
    if (process.env.VERBOSE) rows.forEach((r, i) => console.log(' ', images[i]!.name, JSON.stringify(r)));
  }
}

await main();
