// Reads test/fixtures/resnet/ (written by scripts/fixtures/resnet_reference.py) and regenerates
// the reference inputs exactly as the script does; runs a model on them.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { fillUniform, streamSeed } from '../../src/model/weights/prng.ts';

export const FIXTURES_DIR = new URL('../fixtures/resnet/', import.meta.url);

export interface ReferenceCase {
  name: string;
  depth: 18 | 50;
  variant: 'v1' | 'v1.5';
  width: number;
  classes: number;
  weights: string;
  parameters: number;
  argmax: number[];
  logits: number[][];
}

export interface Reference {
  input: {
    seed: number;
    shape: [number, number, number, number];
    low: number;
    high: number;
    first: number[];
    sum: number;
  };
  cases: ReferenceCase[];
  // Values that overflow F16 are the strings "Infinity" / "-Infinity".
  dtypes: { values: (number | string)[]; f16AsFloat: (number | string)[]; bf16AsFloat: (number | string)[] };
}

export const reference = JSON.parse(readFileSync(new URL('reference.json', FIXTURES_DIR), 'utf8')) as Reference;

export const fixturePath = (file: string): string => new URL(file, FIXTURES_DIR).pathname;

/** Image 0: uniform noise; image 1: its own noise made of 16x16 blocks (as the script's inputs()). */
export function referenceInputs(): Float32Array {
  const { seed, shape, low, high } = reference.input;
  const [n, c, h, w] = shape;
  const x = new Float32Array(n * c * h * w);
  fillUniform(x, streamSeed(seed, 'input'), low, high);
  const image = c * h * w;
  const noise = x.slice(image, 2 * image);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        x[image + ch * h * w + y * w + xx] = noise[ch * h * w + (y - (y % 16)) * w + (xx - (xx % 16))]!;
      }
    }
  }
  return x;
}

/** A model's logits for the reference inputs, from onnxruntime-node. */
export async function logitsOf(onnx: Uint8Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(onnx);
  try {
    const out = await session.run({ input: new ort.Tensor('float32', referenceInputs(), reference.input.shape) });
    return out.logits!.data as Float32Array;
  } finally {
    await session.release();
  }
}
