// Our ONNX in onnxruntime-node against torchvision's own forward pass (fixtures from
// scripts/fixtures/resnet_reference.py: random weights and random BatchNorm statistics).
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../src/model/build.ts';
import { encodeSafetensors, parseSafetensors } from '../../src/model/weights/safetensors.ts';
import { fixturePath, logitsOf, reference, referenceInputs, type ReferenceCase } from './reference-fixtures.ts';

const input = referenceInputs();

function compare(ours: Float32Array, c: ReferenceCase): { maxDiff: number; maxLogit: number; argmax: number[] } {
  const expected = c.logits.flat();
  const maxLogit = Math.max(...expected.map(Math.abs));
  const maxDiff = expected.reduce((m, v, i) => Math.max(m, Math.abs(v - ours[i]!)), 0);
  const argmax = c.logits.map((_, row) => {
    const r = Array.from(ours.subarray(row * c.classes, (row + 1) * c.classes));
    return r.indexOf(Math.max(...r));
  });
  return { maxDiff, maxLogit, argmax };
}

describe('parity with torchvision', () => {
  it('regenerates the reference inputs bit for bit (the Python port of the PRNG agrees)', () => {
    expect(Array.from(input.subarray(0, 4))).toEqual(reference.input.first);
    const sum = input.reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - reference.input.sum)).toBeLessThan(1e-6 * input.length);
  });

  for (const c of reference.cases) {
    for (const foldBatchNorm of [true, false]) {
      it(`${c.name} with BatchNorm ${foldBatchNorm ? 'folded' : 'kept'}: max|diff| <= 1e-4 max|logit| and the same argmax`, async () => {
        const built = await buildModel({
          depth: c.depth,
          variant: c.variant,
          width: c.width,
          classes: c.classes,
          foldBatchNorm,
          weightsFile: fixturePath(c.weights),
        });
        expect(built.stats.parameters).toBe(c.parameters);
        const { maxDiff, maxLogit, argmax } = compare(await logitsOf(built.onnx), c);
        expect(maxLogit).toBeGreaterThan(0.1);
        expect(maxDiff).toBeLessThanOrEqual(1e-4 * maxLogit);
        expect(argmax).toEqual(c.argmax);
      });
    }
  }

  it('a torchvision v1.5 file built as v1 does not match (the variant really moves the stride)', async () => {
    const c = reference.cases.find((x) => x.name === 'resnet50-v1.5')!;
    const built = await buildModel({
      depth: 50,
      variant: 'v1',
      width: c.width,
      classes: c.classes,
      weightsFile: fixturePath(c.weights),
    });
    const { maxDiff, maxLogit } = compare(await logitsOf(built.onnx), c);
    expect(maxDiff).toBeGreaterThan(1e-2 * maxLogit);
  });
});

/** torchvision name -> Hugging Face transformers ResNetForImageClassification name. */
function huggingFaceName(name: string): string {
  const block = name.match(/^layer(\d)\.(\d+)\.(.+)$/);
  if (block) {
    const [, stage, layer, rest] = block as unknown as [string, string, string, string];
    const prefix = `resnet.encoder.stages.${Number(stage) - 1}.layers.${layer}`;
    return rest
      .replace(/^downsample\.0\./, `${prefix}.shortcut.convolution.`)
      .replace(/^downsample\.1\./, `${prefix}.shortcut.normalization.`)
      .replace(/^conv(\d)\./, (_, k: string) => `${prefix}.layer.${Number(k) - 1}.convolution.`)
      .replace(/^bn(\d)\./, (_, k: string) => `${prefix}.layer.${Number(k) - 1}.normalization.`);
  }
  return name
    .replace(/^conv1\./, 'resnet.embedder.embedder.convolution.')
    .replace(/^bn1\./, 'resnet.embedder.embedder.normalization.')
    .replace(/^fc\./, 'classifier.1.');
}

describe('Hugging Face transformers names', () => {
  for (const c of reference.cases.filter((x) => x.variant === 'v1.5')) {
    it(`${c.name} renamed to transformers' ResNet names gives torchvision's logits`, async () => {
      const { tensors } = parseSafetensors(await readFile(fixturePath(c.weights)));
      const renamed = tensors.map((t) => ({
        name: huggingFaceName(t.name),
        dtype: t.dtype,
        shape: t.shape,
        data: t.bytes,
      }));
      expect(renamed.some((t) => t.name.startsWith('resnet.encoder.stages.3.layers.'))).toBe(true);
      const dir = new URL('../.tmp/', import.meta.url);
      await mkdir(dir, { recursive: true });
      const path = new URL(`hf-${c.name}.safetensors`, dir).pathname;
      await writeFile(path, encodeSafetensors(renamed));
      const built = await buildModel({
        depth: c.depth,
        variant: c.variant,
        width: c.width,
        classes: c.classes,
        weightsFile: path,
      });
      const { maxDiff, maxLogit, argmax } = compare(await logitsOf(built.onnx), c);
      expect(maxDiff).toBeLessThanOrEqual(1e-4 * maxLogit);
      expect(argmax).toEqual(c.argmax);
    });
  }
});
