// int8 against FP32 of the same weights, on the preprocessing parity images (photo-like, and never
// the calibration set). The bounds sit above what the tiny model measures (models/README.md) and
// below what a wrong scale gives: the last test rescales one conv's weights by 1.25x, and gives one
// block's DequantizeLinear twice its QuantizeLinear's scale, and each must break them.
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeModel, encodeModel } from '../../../src/model/onnx/codec.ts';
import type { ModelDef, TensorDef } from '../../../src/model/onnx/model-def.ts';
import { fidelity, type Fidelity } from '../../../src/model/quantize/fidelity.ts';
import { fixtureTensors, logitsOf } from './helpers.ts';
import { readFileSync } from 'node:fs';

const BOUNDS = { cosine: 0.999, relativeMaxDiff: 0.04, top1Share: 0.95, top5Mean: 4.5 } as const;

function withinBounds(rows: readonly Fidelity[]): boolean {
  return (
    rows.every((r) => r.cosine >= BOUNDS.cosine && r.relativeMaxDiff <= BOUNDS.relativeMaxDiff) &&
    rows.filter((r) => r.top1Agrees).length >= BOUNDS.top1Share * rows.length &&
    rows.reduce((s, r) => s + r.top5Overlap, 0) / rows.length >= BOUNDS.top5Mean
  );
}

/** A copy of float32 initializer `name` multiplied by `factor`, named `as`. */
function scaledCopy(model: ModelDef, name: string, factor: number, as: string): TensorDef {
  const t = model.graph.initializers.find((i) => i.name === name);
  if (t === undefined) throw new Error(`no initializer ${name}`);
  const values = new Float32Array(new Uint8Array(t.rawData).buffer).map((v) => v * factor);
  return { ...t, name: as, rawData: new Uint8Array(values.buffer) };
}

/** The model with float32 initializer `name` multiplied by `factor` where the nodes `which` read it. */
function rescaled(model: ModelDef, name: string, factor: number, which: (opType: string) => boolean): Uint8Array {
  const wrong = scaledCopy(model, name, factor, `${name}.wrong`);
  const nodes = model.graph.nodes.map((n) =>
    which(n.opType) ? { ...n, inputs: n.inputs.map((i) => (i === name ? wrong.name : i)) } : n,
  );
  const graph = { ...model.graph, nodes, initializers: [...model.graph.initializers, wrong] };
  return encodeModel({ ...model, graph });
}

describe('int8 fidelity on the tiny model', () => {
  let images: Float32Array[];
  let fp32: Float32Array[];
  const rowsFor = async (model: string | Uint8Array): Promise<Fidelity[]> =>
    (await logitsOf(model, images)).map((logits, i) => fidelity(fp32[i]!, logits));
  beforeAll(async () => {
    images = await fixtureTensors();
    fp32 = await logitsOf(inject('tinyModelPath'), images);
  });

  it('keeps cosine >= 0.999, max|dlogit| <= 4% of max|logit|, top-1 on >= 95% and top-5 overlap >= 4.5', async () => {
    const rows = await rowsFor(inject('tinyInt8ModelPath'));
    expect(rows).toHaveLength(26); // the 25 generated parity images and one real photograph
    for (const r of rows) {
      expect(r.cosine).toBeGreaterThanOrEqual(BOUNDS.cosine);
      expect(r.relativeMaxDiff).toBeLessThanOrEqual(BOUNDS.relativeMaxDiff);
      expect(r.relativeMaxDiff).toBeGreaterThan(0); // it is int8: not the FP32 file by mistake
    }
    expect(withinBounds(rows)).toBe(true);
  });

  it('breaks those bounds when one conv weight scale or one activation scale is wrong', async () => {
    const model = decodeModel(readFileSync(inject('tinyInt8ModelPath')));
    const everywhere = (): boolean => true;
    const weights = rescaled(model, 'layer2.0.conv2.weight_scale', 1.25, everywhere);
    expect(withinBounds(await rowsFor(weights))).toBe(false);
    const dequantize = rescaled(model, 'layer3.1.output_scale', 2, (op) => op === 'DequantizeLinear');
    expect(withinBounds(await rowsFor(dequantize))).toBe(false);
  });
});
