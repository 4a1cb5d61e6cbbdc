// buildModel: options -> ONNX bytes + manifest; writeModel: bytes + sidecar manifest on disk.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as ort from 'onnxruntime-node';
import { IMAGENET_PRESET } from '../preprocess/preset.ts';
import { MANIFEST_FORMAT, MANIFEST_METADATA_KEY, manifestPathFor, type ModelManifest } from './manifest.ts';
import { encodeModel } from './onnx/codec.ts';
import { Graph } from './onnx/graph.ts';
import { IR_VERSION, OPSET_VERSION, PRODUCER_NAME } from './onnx/opset.ts';
import { defaultModelName, resolveBuildOptions, type BuildOptions } from './options.ts';
import { calibratedQuantizer } from './quantize/int8-build.ts';
import { FLOAT_GRAPH } from './quantize/quantizer.ts';
import { BATCH_DIM, blockCount, buildResNet, INPUT_SIZE } from './resnet.ts';
import { REFERENCE_INPUT, referenceInput, type ReferenceOutputs } from './self-check.ts';
import { loadSafetensorsWeights } from './weights/import.ts';
import { MemoizedWeights } from './weights/memo.ts';
import { SeededWeights } from './weights/seeded.ts';
import type { WeightSource } from './weights/source.ts';

export { DEFAULT_BUILD_OPTIONS, type BuildOptions } from './options.ts';

/** Bumped whenever the graph layout changes, so files from different builders can be told apart. */
export const BUILDER_VERSION = '1.0.0';
// Same path from src/model/ (tsx) and dist/model/ (compiled): both sit two levels below the root.
const LABELS_URL = new URL('../../models/imagenet-labels.json', import.meta.url);

export interface BuildHooks {
  onProgress?(step: string, done: number, total: number): void;
}

export interface BuiltModel {
  readonly onnx: Uint8Array;
  readonly manifest: ModelManifest;
  /** storedWeights: float32 values in initializers; storedInt8: int8 values (int8 builds). */
  readonly stats: { readonly parameters: number; readonly storedWeights: number; readonly storedInt8: number };
}

export async function buildModel(options: Partial<BuildOptions> = {}, hooks: BuildHooks = {}): Promise<BuiltModel> {
  const o = resolveBuildOptions(options);
  const progress = hooks.onProgress ?? (() => {});
  const source: WeightSource = o.weightsFile
    ? await loadSafetensorsWeights(o.weightsFile, (done, total) => progress('read weights', done, total))
    : new SeededWeights(o.seed, blockCount(o.depth));
  // int8 builds the network twice (calibration probe, then QDQ): the second pass reuses the weights.
  const weights = o.precision === 'int8' ? new MemoizedWeights(source) : source;
  const name = o.name ?? defaultModelName(o);
  const g = new Graph(name);
  const architecture = {
    depth: o.depth,
    variant: o.variant,
    shortcut: o.shortcut,
    width: o.width,
    classes: o.classes,
    foldBatchNorm: o.foldBatchNorm,
  };
  const { quantizer, calibration } =
    o.precision === 'int8'
      ? await calibratedQuantizer(architecture, weights, { dir: o.calibrationDir, count: o.calibrationCount }, progress)
      : { quantizer: FLOAT_GRAPH, calibration: undefined };
  const onBlock = (done: number, total: number): void => progress('graph', done, total);
  const { parameters } = buildResNet(g, architecture, weights, onBlock, quantizer);
  weights.finish();
  const manifest: ModelManifest = {
    format: MANIFEST_FORMAT,
    name,
    architecture,
    opset: OPSET_VERSION,
    irVersion: IR_VERSION,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, INPUT_SIZE, INPUT_SIZE] }],
    outputs: [
      { name: 'logits', datatype: 'FP32', shape: [-1, o.classes] },
      { name: 'probabilities', datatype: 'FP32', shape: [-1, o.classes] },
    ],
    preprocess: IMAGENET_PRESET,
    labels: await labelsFor(o.classes),
    weights: weights.description,
    parameters,
    precision: o.precision,
    ...(calibration && { calibration }),
  };
  const onnx = encode(g, manifest, progress);
  progress('self-check reference', 0, 1);
  const reference = await referenceOutputs(onnx);
  const modelSha256 = createHash('sha256').update(onnx).digest('hex');
  return {
    onnx,
    manifest: { ...manifest, reference, modelSha256 },
    stats: { parameters, storedWeights: g.storedFloats, storedInt8: g.storedInt8 },
  };
}

/** The ONNX file, with the manifest as its metadata (without the sidecar-only sha256 and reference). */
function encode(g: Graph, manifest: ModelManifest, progress: NonNullable<BuildHooks['onProgress']>): Uint8Array {
  progress('encode', 0, 1);
  const onnx = encodeModel({
    irVersion: IR_VERSION,
    opsetVersion: OPSET_VERSION,
    producerName: PRODUCER_NAME,
    producerVersion: BUILDER_VERSION,
    docString: docString(manifest),
    graph: g.toDef(),
    metadata: [[MANIFEST_METADATA_KEY, JSON.stringify(manifest)]],
  });
  progress('encode', 1, 1);
  return onnx;
}

/** The logits of the self-check input, computed the way the service will (onnxruntime, all optimisations). */
async function referenceOutputs(onnx: Uint8Array): Promise<ReferenceOutputs> {
  const session = await ort.InferenceSession.create(onnx, { graphOptimizationLevel: 'all' });
  try {
    const input = new ort.Tensor('float32', referenceInput(INPUT_SIZE, INPUT_SIZE), [1, 3, INPUT_SIZE, INPUT_SIZE]);
    const { logits } = await session.run({ input }, ['logits']);
    return { input: REFERENCE_INPUT, logits: Array.from(logits?.data as Float32Array) };
  } finally {
    await session.release();
  }
}

/** ImageNet's names (torchvision order) for 1000 classes, else class_0..class_{n-1}. */
async function labelsFor(classes: number): Promise<string[]> {
  if (classes !== 1000) return Array.from({ length: classes }, (_, i) => `class_${i}`);
  const labels: unknown = JSON.parse(await readFile(LABELS_URL, 'utf8'));
  if (!Array.isArray(labels) || labels.length !== 1000) throw new Error(`${LABELS_URL.pathname} must hold 1000 labels`);
  return labels.map(String);
}

function docString(m: ModelManifest): string {
  const a = m.architecture;
  const weights = m.weights.trained
    ? `weights from ${m.weights.file ?? 'a file'}`
    : `SEEDED UNTRAINED weights (seed ${m.weights.seed ?? 0}): predictions are meaningless`;
  const int8 = m.calibration
    ? ` int8 QDQ (uint8 activations, int8 per-channel weights), min/max calibrated on ${m.calibration.count} images.`
    : '';
  return `ResNet-${a.depth} ${a.variant}, shortcut ${a.shortcut}, width x${a.width}, ${a.classes} classes, ${blockCount(a.depth)} blocks, ${weights}.${int8} Input ${BATCH_DIM}x3x${INPUT_SIZE}x${INPUT_SIZE}. Built by ${PRODUCER_NAME} ${BUILDER_VERSION}.`;
}

/** Writes `<path>.onnx` (path may already end in .onnx) and its sidecar manifest, each atomically, creating the folder. */
export async function writeModel(
  path: string,
  built: BuiltModel,
): Promise<{ modelPath: string; manifestPath: string }> {
  const modelPath = /\.onnx$/i.test(path) ? path : `${path}.onnx`;
  const manifestPath = manifestPathFor(modelPath);
  await mkdir(dirname(modelPath), { recursive: true });
  await writeAtomically(modelPath, built.onnx);
  await writeAtomically(manifestPath, JSON.stringify(built.manifest, null, 2) + '\n');
  return { modelPath, manifestPath };
}

async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
