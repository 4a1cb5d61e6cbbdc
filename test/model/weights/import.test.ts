import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../../src/model/build.ts';
import { decodeModel } from '../../../src/model/onnx/codec.ts';
import { WeightsMismatchError } from '../../../src/model/weights/import.ts';
import {
  encodeSafetensors,
  parseSafetensors,
  toFloat32,
  type SafeTensor,
} from '../../../src/model/weights/safetensors.ts';
import { fixturePath, logitsOf, reference } from '../reference-fixtures.ts';

const resnet18 = reference.cases.find((c) => c.name === 'resnet18-v1.5')!;
const resnet18Options = { depth: 18, width: resnet18.width, classes: resnet18.classes } as const;
const tmpDir = new URL('../../.tmp/weights/', import.meta.url);

async function fixtureTensors(): Promise<SafeTensor[]> {
  return parseSafetensors(await readFile(fixturePath(resnet18.weights))).tensors;
}

type Entry = { name: string; dtype?: string; shape: readonly number[]; data: Float32Array | Uint8Array };

async function writeTmp(name: string, tensors: readonly Entry[]): Promise<string> {
  await mkdir(tmpDir, { recursive: true });
  const path = new URL(name, tmpDir).pathname;
  await writeFile(path, encodeSafetensors(tensors));
  return path;
}

const asEntries = (tensors: readonly SafeTensor[]): Entry[] =>
  tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.bytes }));

/** Largest |ours - torchvision| over the reference logits, with the largest |logit| for scale. */
async function diffToTorchvision(onnx: Uint8Array): Promise<{ maxDiff: number; maxLogit: number }> {
  const out = await logitsOf(onnx);
  const expected = resnet18.logits.flat();
  expect(out).toHaveLength(expected.length);
  return {
    maxDiff: expected.reduce((m, v, i) => Math.max(m, Math.abs(v - out[i]!)), 0),
    maxLogit: Math.max(...expected.map(Math.abs)),
  };
}

async function mismatchOf(promise: Promise<unknown>): Promise<WeightsMismatchError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WeightsMismatchError)) throw new Error(`expected a WeightsMismatchError, got ${String(err)}`);
  expect(err.code).toBe('WEIGHTS_MISMATCH');
  return err;
}

describe('importing .safetensors weights', () => {
  it('records the file name, its sha256 and trained: true in the manifest', async () => {
    const bytes = await readFile(fixturePath(resnet18.weights));
    const built = await buildModel({ ...resnet18Options, weightsFile: fixturePath(resnet18.weights) });
    expect(built.manifest.weights).toEqual({
      kind: 'safetensors',
      trained: true,
      file: resnet18.weights,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
  });

  it('ignores num_batches_tracked, which torchvision state_dicts carry', async () => {
    const tensors = await fixtureTensors();
    expect(tensors.filter((t) => t.name.endsWith('num_batches_tracked')).length).toBe(20);
    const built = await buildModel({ ...resnet18Options, weightsFile: fixturePath(resnet18.weights) });
    const names = decodeModel(built.onnx).graph.initializers.map((t) => t.name);
    expect(names.filter((name) => name.includes('num_batches_tracked'))).toEqual([]);
    const { maxDiff, maxLogit } = await diffToTorchvision(built.onnx);
    expect(maxDiff).toBeLessThanOrEqual(1e-4 * maxLogit);
  });

  it('reports missing, unexpected and mis-shaped tensors together in one error', async () => {
    const tensors = asEntries(await fixtureTensors()).filter(
      (t) => t.name !== 'layer1.0.conv1.weight' && t.name !== 'layer2.0.downsample.1.running_var',
    );
    const fcBias = tensors.find((t) => t.name === 'fc.bias')!;
    const edited: Entry[] = [
      ...tensors.filter((t) => t !== fcBias),
      { name: 'fc.bias', shape: [2, 5], data: fcBias.data },
      { name: 'extra.weight', shape: [1], data: new Float32Array(1) },
      { name: 'layer9.0.conv1.weight', shape: [1], data: new Float32Array(1) },
    ];
    const err = await mismatchOf(
      buildModel({ ...resnet18Options, weightsFile: await writeTmp('edited.safetensors', edited) }),
    );
    expect(err.mismatch.missing).toEqual(['layer1.0.conv1.weight', 'layer2.0.downsample.1.running_var']);
    expect([...err.mismatch.unexpected].sort()).toEqual(['extra.weight', 'layer9.0.conv1.weight']);
    expect(err.mismatch.misshaped).toEqual(['fc.bias: file [2,5] (F32), model [10]']);
    for (const name of [
      'layer1.0.conv1.weight',
      'layer2.0.downsample.1.running_var',
      'extra.weight',
      'layer9.0.conv1.weight',
      'fc.bias',
    ]) {
      expect(err.message).toContain(name);
    }
  });

  it('lists a tensor of an unsupported dtype with the mis-shaped ones', async () => {
    const tensors = asEntries(await fixtureTensors()).map((t) =>
      t.name === 'bn1.running_mean' ? { ...t, dtype: 'I32' } : t,
    );
    const err = await mismatchOf(
      buildModel({ ...resnet18Options, weightsFile: await writeTmp('i32.safetensors', tensors) }),
    );
    expect(err.mismatch).toEqual({
      missing: [],
      unexpected: [],
      misshaped: ['bn1.running_mean: file [8] (I32), model [8]'],
    });
  });

  it('names every fc tensor when the class count differs from the file', async () => {
    const err = await mismatchOf(
      buildModel({ ...resnet18Options, classes: 1000, weightsFile: fixturePath(resnet18.weights) }),
    );
    expect(err.mismatch.misshaped).toEqual([
      'fc.weight: file [10,64] (F32), model [1000,64]',
      'fc.bias: file [10] (F32), model [1000]',
    ]);
  });

  it('lists every projection a shortcut-C model needs that a shortcut-B file lacks', async () => {
    const err = await mismatchOf(
      buildModel({ ...resnet18Options, shortcut: 'C', weightsFile: fixturePath(resnet18.weights) }),
    );
    // ResNet-18 has 8 blocks; B projects in 3 of them, so C misses 5 projections x 5 tensors.
    expect(err.mismatch.missing).toHaveLength(25);
    expect(err.mismatch.missing).toContain('layer1.0.downsample.0.weight');
    expect(err.mismatch.missing).toContain('layer4.1.downsample.1.running_var');
    expect(err.mismatch.unexpected).toEqual([]);
  });

  it('lists Hugging Face names it cannot map as unexpected', async () => {
    const err = await mismatchOf(
      buildModel({
        ...resnet18Options,
        weightsFile: await writeTmp('hf.safetensors', [
          { name: 'resnet.pooler.weight', shape: [1], data: new Float32Array(1) },
        ]),
      }),
    );
    expect(err.mismatch.unexpected).toEqual(['resnet.pooler.weight']);
    expect(err.mismatch.missing).toContain('conv1.weight');
  });

  it('drops the module. prefix of DataParallel checkpoints', async () => {
    const tensors = asEntries(await fixtureTensors()).map((t) => ({ ...t, name: `module.${t.name}` }));
    const built = await buildModel({ ...resnet18Options, weightsFile: await writeTmp('module.safetensors', tensors) });
    expect(built.manifest.weights).toMatchObject({ file: 'module.safetensors', trained: true });
    const { maxDiff, maxLogit } = await diffToTorchvision(built.onnx);
    expect(maxDiff).toBeLessThanOrEqual(1e-4 * maxLogit);
  });

  it.each([
    ['F16', 2e-2],
    ['BF16', 2e-1],
  ] as const)(
    'builds from %s weights with logits within %s of max|logit| of the float32 reference',
    async (dtype, tolerance) => {
      const tensors = (await fixtureTensors()).map((t): Entry => {
        if (t.dtype !== 'F32') return { name: t.name, dtype: t.dtype, shape: t.shape, data: t.bytes };
        const f = toFloat32(t);
        const bits = new Uint16Array(f.length);
        for (let i = 0; i < f.length; i++) bits[i] = dtype === 'F16' ? toHalfBits(f[i]!) : toBf16Bits(f[i]!);
        return { name: t.name, dtype, shape: t.shape, data: new Uint8Array(bits.buffer) };
      });
      const built = await buildModel({
        ...resnet18Options,
        weightsFile: await writeTmp(`${dtype}.safetensors`, tensors),
      });
      const { maxDiff, maxLogit } = await diffToTorchvision(built.onnx);
      expect(maxDiff).toBeLessThan(tolerance * maxLogit);
      expect(maxDiff).toBeGreaterThan(1e-6 * maxLogit);
    },
  );
});

/** float32 -> bfloat16 bits, round to nearest even. */
function toBf16Bits(x: number): number {
  const u = new Uint32Array(Float32Array.of(x).buffer)[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 -> binary16 bits (round to nearest; the fixture's values are normal in F16). */
function toHalfBits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a < 2 ** -24) return sign;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  const exp = Math.floor(Math.log2(a));
  let mant = Math.round((a / 2 ** exp - 1) * 1024);
  let e = exp;
  if (mant === 1024) {
    mant = 0;
    e += 1;
  }
  return e > 15 ? sign | 0x7c00 : sign | ((e + 15) << 10) | mant;
}
