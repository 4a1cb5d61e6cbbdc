import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { describe, expect, inject, it } from 'vitest';
import type { ModelManifest } from '../../src/model/manifest.ts';

describe('the tiny test model from global setup', () => {
  it('loads in onnxruntime-node and gives finite logits of shape [2,10] that differ between images', async () => {
    const session = await ort.InferenceSession.create(inject('tinyModelPath'));
    const x = new Float32Array(2 * 3 * 224 * 224);
    // Two different images: a smooth gradient and a checkerboard, both in normalised units.
    for (let i = 0; i < x.length / 2; i++) x[i] = ((i % 224) / 112 - 1) * 2;
    for (let i = x.length / 2; i < x.length; i++)
      x[i] = (Math.floor(i / 8) + Math.floor(i / (8 * 224))) % 2 ? 1.5 : -1.5;
    const out = await session.run({ input: new ort.Tensor('float32', x, [2, 3, 224, 224]) });
    const logits = out.logits!;
    expect(logits.dims).toEqual([2, 10]);
    const values = Array.from(logits.data as Float32Array);
    expect(values.every(Number.isFinite)).toBe(true);
    const diff = values.slice(0, 10).reduce((m, v, i) => Math.max(m, Math.abs(v - values[10 + i]!)), 0);
    expect(diff).toBeGreaterThan(1e-3);
    const probs = Array.from(out.probabilities!.data as Float32Array);
    expect(probs.slice(0, 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    await session.release();
  });

  it('gives for a batch of 3 the same rows as 3 runs of batch 1', async () => {
    const session = await ort.InferenceSession.create(inject('tinyModelPath'));
    const image = 3 * 224 * 224;
    const batch = Float32Array.from(
      { length: 3 * image },
      (_, i) => Math.sin(i * 0.001 * (1 + Math.floor(i / image))) * 2,
    );
    const together = (await session.run({ input: new ort.Tensor('float32', batch, [3, 3, 224, 224]) })).logits!
      .data as Float32Array;
    for (let n = 0; n < 3; n++) {
      const one = (
        await session.run({
          input: new ort.Tensor('float32', batch.slice(n * image, (n + 1) * image), [1, 3, 224, 224]),
        })
      ).logits!.data as Float32Array;
      const row = Array.from(together.subarray(n * 10, (n + 1) * 10));
      row.forEach((v, i) => expect(v).toBeCloseTo(one[i]!, 5));
    }
    expect(Math.abs(together[0]! - together[10]!)).toBeGreaterThan(1e-4);
    await session.release();
  });

  it('has a sidecar manifest naming its architecture, I/O, seeded weights and sha256', async () => {
    const manifest = JSON.parse(await readFile(inject('tinyManifestPath'), 'utf8')) as ModelManifest;
    expect(manifest.architecture).toEqual({
      depth: 50,
      variant: 'v1.5',
      shortcut: 'B',
      width: 0.125,
      classes: 10,
      foldBatchNorm: true,
    });
    expect(manifest.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }]);
    expect(manifest.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['logits', [-1, 10]],
      ['probabilities', [-1, 10]],
    ]);
    expect(manifest.labels).toEqual(Array.from({ length: 10 }, (_, i) => `class_${i}`));
    expect(manifest.weights).toEqual({ kind: 'seeded', trained: false, seed: 1 });
    expect(manifest.modelSha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
