// Shared by the int8 tests: op counts, logits of a model file, the parity fixtures as tensors.
import { readdirSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { GraphDef } from '../../../src/model/onnx/model-def.ts';
import { IMAGENET_PRESET, preprocessImage } from '../../../src/preprocess/index.ts';

export const opCounts = (graph: GraphDef): Record<string, number> =>
  graph.nodes.reduce<Record<string, number>>((c, n) => ({ ...c, [n.opType]: (c[n.opType] ?? 0) + 1 }), {});

const FIXTURES = new URL('../../fixtures/images/', import.meta.url);

/** The preprocessing parity images (never calibration images), through the service's preprocessing. */
export async function fixtureTensors(): Promise<Float32Array[]> {
  const names = readdirSync(FIXTURES)
    .filter((n) => /\.(png|jpe?g|webp|gif|tiff)$/i.test(n))
    .sort();
  const limits = { preset: IMAGENET_PRESET, maxImageBytes: 1 << 26, maxImagePixels: 1e8 };
  return Promise.all(names.map((n) => preprocessImage(readFileSync(new URL(n, FIXTURES)), limits)));
}

export async function logitsOf(model: string | Uint8Array, tensors: readonly Float32Array[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(model as Uint8Array);
  try {
    const out: Float32Array[] = [];
    for (const x of tensors)
      out.push(
        (await session.run({ input: new ort.Tensor('float32', x, [1, 3, 224, 224]) })).logits!.data as Float32Array,
      );
    return out;
  } finally {
    await session.release();
  }
}
