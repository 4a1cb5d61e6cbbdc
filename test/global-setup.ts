// Builds the tiny test models once per vitest run and provides their paths to every test file
// through inject(): the ResNet-50 layout at 1/8 width, 10 classes, seed 1, FP32 ('tinyModelPath',
// 'tinyManifestPath') and int8 calibrated on the built-in set ('tinyInt8ModelPath'), and a
// ResNet-18 at 1/8 width, 10 classes, seed 2 ('tinyResnet18Path'), the second model of the
// repository tests.
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { buildModel, writeModel } from '../src/model/build.ts';

export const TINY_MODEL_OPTIONS = {
  depth: 50,
  variant: 'v1.5',
  shortcut: 'B',
  width: 0.125,
  classes: 10,
  foldBatchNorm: true,
  seed: 1,
} as const;

export const TINY_RESNET18_OPTIONS = { ...TINY_MODEL_OPTIONS, depth: 18, seed: 2 } as const;

export default async function setup(project: TestProject): Promise<void> {
  const dir = fileURLToPath(new URL('./.tmp/', import.meta.url));
  await mkdir(dir, { recursive: true });
  const built = await buildModel(TINY_MODEL_OPTIONS);
  const { modelPath, manifestPath } = await writeModel(`${dir}tiny-resnet.onnx`, built);
  project.provide('tinyModelPath', modelPath);
  project.provide('tinyManifestPath', manifestPath);
  const resnet18 = await writeModel(`${dir}tiny-resnet18.onnx`, await buildModel(TINY_RESNET18_OPTIONS));
  project.provide('tinyResnet18Path', resnet18.modelPath);
  const int8 = await writeModel(
    `${dir}tiny-resnet-int8.onnx`,
    await buildModel({ ...TINY_MODEL_OPTIONS, precision: 'int8' }),
  );
  project.provide('tinyInt8ModelPath', int8.modelPath);
}
