// What onnxruntime makes of the int8 graph: the optimised model it writes (optimizedModelFilePath),
// read back with the project's codec. Every Conv must become a QLinearConv and every residual Add a
// QLinearAdd, with one QuantizeLinear (the input) and one DequantizeLinear (before the float head) left.
// The full ResNet-50 check takes ~10 s more and runs with RESNET_FULL=1 (npm run test:full).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, inject, it } from 'vitest';
import { buildModel } from '../../../src/model/build.ts';
import { decodeModel } from '../../../src/model/onnx/codec.ts';
import { opCounts } from './helpers.ts';

async function optimizedOpCounts(model: string | Uint8Array): Promise<Record<string, number>> {
  const optimizedModelFilePath = join(mkdtempSync(join(tmpdir(), 'int8-fusion-')), 'optimized.onnx');
  const session = await ort.InferenceSession.create(model as Uint8Array, {
    graphOptimizationLevel: 'all',
    optimizedModelFilePath,
  });
  await session.release();
  return opCounts(decodeModel(readFileSync(optimizedModelFilePath)).graph);
}

function expectFullyFused(counts: Record<string, number>): void {
  expect(counts.QLinearConv).toBe(53);
  expect(counts.QLinearAdd).toBe(16);
  expect(counts.Conv).toBeUndefined();
  expect(counts.Add).toBeUndefined();
  expect(counts.Relu).toBeUndefined();
  expect(counts.QuantizeLinear).toBe(1);
  expect(counts.DequantizeLinear).toBe(1);
  // The head stays float (models/README.md says why).
  expect(counts).toMatchObject({ GlobalAveragePool: 1, Flatten: 1, Gemm: 1, Softmax: 1 });
}

describe('onnxruntime fuses the int8 ResNet-50 layout', () => {
  it('turns the tiny model (ResNet-50 layout at width 0.125) into 53 QLinearConv + 16 QLinearAdd', async () => {
    expectFullyFused(await optimizedOpCounts(inject('tinyInt8ModelPath')));
  });

  it('leaves the FP32 model with float convs (the counts come from the int8 graph, not the layout)', async () => {
    const counts = await optimizedOpCounts(inject('tinyModelPath'));
    expect(counts.QLinearConv).toBeUndefined();
    expect((counts.Conv ?? 0) + (counts.FusedConv ?? 0)).toBe(53);
  });

  it.runIf(process.env.RESNET_FULL === '1')(
    'fuses the full ResNet-50 the same way',
    async () => {
      const built = await buildModel({ precision: 'int8' });
      expectFullyFused(await optimizedOpCounts(built.onnx));
    },
    120_000,
  );
});
