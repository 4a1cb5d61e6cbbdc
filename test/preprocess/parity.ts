// Helpers shared by the parity tests and load/bench/preprocess.ts: the committed torchvision
// reference (test/fixtures/images, made by scripts/fixtures/preprocess_reference.py) and the
// error measures the issue sets bounds on (mean and 99th percentile of |ours - reference|).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { IMAGENET_PRESET } from '../../src/preprocess/preset.ts';
import { normalizeInto } from '../../src/preprocess/normalize.ts';

export const IMAGES_DIR = fileURLToPath(new URL('../fixtures/images/', import.meta.url));

export interface ReferenceEntry {
  readonly file: string;
  readonly pilMode: string;
  readonly storedSize: [number, number];
  readonly orientedSize: [number, number];
  readonly resized: [number, number];
  readonly crop: [number, number];
  readonly tensorSum: number;
  readonly samples: readonly { c: number; y: number; x: number; value: number }[];
  readonly reference: string;
}

export interface ReferenceSet {
  readonly versions: Record<string, string>;
  readonly images: readonly ReferenceEntry[];
}

export const PARITY_BOUNDS = { mean: 0.02, p99: 0.15 } as const;

export function loadReferenceSet(): ReferenceSet {
  return JSON.parse(readFileSync(`${IMAGES_DIR}reference.json`, 'utf8')) as ReferenceSet;
}

export function fixtureBytes(file: string): Buffer {
  return readFileSync(`${IMAGES_DIR}${file}`);
}

/**
 * The reference tensor: torchvision's uint8 224x224 crop, normalized with the same float32 steps.
 * Read as bytes: configureSharp() blocks libvips' file loaders.
 */
export async function referenceTensor(pngPath: string): Promise<Float32Array> {
  const { data, info } = await sharp(readFileSync(pngPath)).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== IMAGENET_PRESET.crop || info.height !== IMAGENET_PRESET.crop) {
    throw new Error(
      `${pngPath}: expected a ${IMAGENET_PRESET.crop}px RGB crop, got ${info.width}x${info.height}x${info.channels}`,
    );
  }
  const tensor = new Float32Array(3 * info.width * info.height);
  const source = { data, width: info.width, height: info.height, left: 0, top: 0 };
  normalizeInto(source, info.width, IMAGENET_PRESET, tensor, 0);
  return tensor;
}

export interface Difference {
  readonly mean: number;
  readonly p99: number;
  readonly max: number;
}

/** |a - b| per element: mean, 99th percentile (nearest rank) and maximum. */
export function difference(a: Float32Array, b: Float32Array): Difference {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  const diffs = new Float32Array(a.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    diffs[i] = d;
    sum += d;
  }
  diffs.sort();
  const rank = Math.min(diffs.length - 1, Math.ceil(0.99 * diffs.length) - 1);
  return { mean: sum / a.length, p99: diffs[rank] as number, max: diffs[diffs.length - 1] as number };
}

/** Bit-for-bit equality of two float arrays (vitest's deep equality is slow on 150k elements). */
export function sameFloats(a: Float32Array, b: Float32Array): boolean {
  const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  return bytes(a).equals(bytes(b));
}
