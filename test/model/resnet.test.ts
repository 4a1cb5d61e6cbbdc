// Invariants of the ResNet family as torchvision defines it, and of the files we write.
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { zeroPadShortcut } from '../../src/model/blocks.ts';
import { buildModel, type BuiltModel } from '../../src/model/build.ts';
import { MANIFEST_METADATA_KEY } from '../../src/model/manifest.ts';
import { decodeModel, encodeModel } from '../../src/model/onnx/codec.ts';
import { Graph } from '../../src/model/onnx/graph.ts';
import type { GraphDef, ModelDef } from '../../src/model/onnx/model-def.ts';
import { IR_VERSION, OPSET_VERSION } from '../../src/model/onnx/opset.ts';
import { blockCount, buildResNet, type Depth, type ResNetOptions } from '../../src/model/resnet.ts';
import { SeededWeights } from '../../src/model/weights/seeded.ts';

const opCounts = (graph: GraphDef): Record<string, number> =>
  graph.nodes.reduce<Record<string, number>>((c, n) => ({ ...c, [n.opType]: (c[n.opType] ?? 0) + 1 }), {});
const architecture: Omit<ResNetOptions, 'depth'> = {
  variant: 'v1.5',
  shortcut: 'B',
  width: 1,
  classes: 1000,
  foldBatchNorm: true,
};

/** Builds the graph only (no encoding): enough to count parameters and nodes. */
function graphOf(options: Partial<typeof architecture> & { depth: Depth }) {
  const g = new Graph('t');
  const { parameters } = buildResNet(
    g,
    { ...architecture, ...options },
    new SeededWeights(0, blockCount(options.depth)),
  );
  return { graph: g.toDef(), parameters, stored: g.storedFloats };
}

async function run(onnx: Uint8Array | string, input: Float32Array, batch: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(onnx as Uint8Array);
  try {
    const out = await session.run({ input: new ort.Tensor('float32', input, [batch, 3, 224, 224]) });
    return out.logits!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function images(batch: number, seed: number): Float32Array {
  const x = new Float32Array(batch * 3 * 224 * 224);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.0137 * (1 + seed) + Math.floor(i / 150528) * 1.7) * 2;
  return x;
}

describe('the full ResNet-50 (defaults: v1.5, shortcut B, BN folded, seed 0)', () => {
  let built: BuiltModel;
  let model: ModelDef;
  beforeAll(async () => {
    built = await buildModel({});
    model = decodeModel(built.onnx);
  });

  it('has 25,557,032 parameters as torchvision counts them and 25,530,472 stored weights once folded', () => {
    expect(built.stats.parameters).toBe(25_557_032);
    expect(built.stats.storedWeights).toBe(25_530_472);
    expect(built.stats.parameters - built.stats.storedWeights).toBe(26_560);
    expect(built.manifest.parameters).toBe(25_557_032);
    const floatBytes = model.graph.initializers
      .filter((t) => t.dataType === 'float32')
      .reduce((s, t) => s + t.rawData.length, 0);
    expect(floatBytes).toBe(25_530_472 * 4);
  });

  it('has 53 convs (49 + 4 projections), 16 adds, 49 ReLUs and no BatchNormalization', () => {
    expect(opCounts(model.graph)).toEqual({
      Conv: 53,
      Add: 16,
      Relu: 49,
      MaxPool: 1,
      GlobalAveragePool: 1,
      Flatten: 1,
      Gemm: 1,
      Softmax: 1,
    });
  });

  it('declares input [batch,3,224,224] and outputs logits and probabilities [batch,1000], opset 17, IR 8', () => {
    expect(model.irVersion).toBe(8);
    expect(model.opsetVersion).toBe(17);
    expect(model.graph.inputs).toEqual([{ name: 'input', elementType: 'float32', shape: ['batch', 3, 224, 224] }]);
    expect(model.graph.outputs).toEqual([
      { name: 'logits', elementType: 'float32', shape: ['batch', 1000] },
      { name: 'probabilities', elementType: 'float32', shape: ['batch', 1000] },
    ]);
  });

  it('uses torchvision tensor names', () => {
    const names = new Set(model.graph.initializers.map((t) => t.name));
    for (const name of [
      'conv1.weight',
      'conv1.bias',
      'layer1.0.downsample.0.weight',
      'layer3.5.conv3.weight',
      'layer4.2.conv2.bias',
      'fc.weight',
      'fc.bias',
    ]) {
      expect(names).toContain(name);
    }
  });

  it('embeds the manifest (ImageNet labels, seeded weights, fp32); the sidecar adds the sha256 and self-check logits', () => {
    const embedded = JSON.parse(new Map(model.metadata).get(MANIFEST_METADATA_KEY)!) as Record<string, unknown>;
    const { modelSha256, reference, ...rest } = built.manifest;
    expect(rest.precision).toBe('fp32');
    expect(reference?.logits).toHaveLength(1000);
    expect(embedded).toEqual(JSON.parse(JSON.stringify(rest)));
    expect(modelSha256).toBe(createHash('sha256').update(built.onnx).digest('hex'));
    expect(built.manifest.labels).toHaveLength(1000);
    expect(built.manifest.labels[0]).toBe('tench');
    expect(built.manifest.weights).toEqual({ kind: 'seeded', trained: false, seed: 0 });
    expect(model.docString).toMatch(/SEEDED UNTRAINED weights .* meaningless/);
  });

  it('is byte-identical when built twice with the same seed, and differs with another seed', async () => {
    const again = await buildModel({});
    expect(Buffer.compare(again.onnx, built.onnx)).toBe(0);
    const other = await buildModel({ width: 0.125, classes: 10, seed: 1 });
    const otherSeed = await buildModel({ width: 0.125, classes: 10, seed: 2 });
    expect(Buffer.compare(other.onnx, otherSeed.onnx)).not.toBe(0);
    expect(other.onnx.length).toBe(otherSeed.onnx.length);
  });

  it('loads in onnxruntime-node (the ~100 MB file round-trips the codec) and gives finite, image-dependent logits', async () => {
    const logits = await run(built.onnx, images(2, 0), 2);
    expect(logits).toHaveLength(2000);
    expect(logits.every(Number.isFinite)).toBe(true);
    const rowDiff = logits.subarray(0, 1000).reduce((m, v, i) => Math.max(m, Math.abs(v - logits[1000 + i]!)), 0);
    expect(rowDiff).toBeGreaterThan(1e-2);
  });
});

describe('the ResNet family', () => {
  it.each([
    [18, 11_689_512, 4_800],
    [34, 21_797_672, 8_512],
  ] as const)(
    'ResNet-%i has %i parameters as torchvision counts them (%i BatchNorm channels)',
    (depth, parameters, bnChannels) => {
      const folded = graphOf({ depth });
      expect(folded.parameters).toBe(parameters);
      expect(folded.stored).toBe(parameters - bnChannels);
      const kept = graphOf({ depth, foldBatchNorm: false });
      expect(kept.stored).toBe(parameters + 2 * bnChannels);
    },
  );

  it('ResNet-101 and -152 have 44,549,160 and 60,192,808 parameters', () => {
    expect(graphOf({ depth: 101 }).parameters).toBe(44_549_160);
    expect(graphOf({ depth: 152 }).parameters).toBe(60_192_808);
  });

  it('keeps 53 BatchNormalization nodes and 25,610,152 stored values when BN is not folded', () => {
    const { graph, stored } = graphOf({ depth: 50, foldBatchNorm: false });
    expect(opCounts(graph).BatchNormalization).toBe(53);
    expect(stored).toBe(25_557_032 + 2 * 26_560);
  });

  it('puts the stride on the 3x3 in v1.5 and on the first 1x1 in v1', () => {
    const strides = (variant: 'v1' | 'v1.5') => {
      const { graph } = graphOf({ depth: 50, variant, width: 0.125, classes: 10 });
      const convs = graph.nodes.filter((n) => n.opType === 'Conv' && n.name.startsWith('layer2.0.'));
      return Object.fromEntries(convs.map((n) => [n.name.split('/')[0], n.attributes.strides]));
    };
    const two = { kind: 'ints', value: [2, 2] };
    const one = { kind: 'ints', value: [1, 1] };
    expect(strides('v1.5')).toEqual({
      'layer2.0.conv1': one,
      'layer2.0.conv2': two,
      'layer2.0.conv3': one,
      'layer2.0.downsample.0': two,
    });
    expect(strides('v1')).toEqual({
      'layer2.0.conv1': two,
      'layer2.0.conv2': one,
      'layer2.0.conv3': one,
      'layer2.0.downsample.0': two,
    });
  });

  it('initialises conv weights Glorot-uniform (bound sqrt(6/(fan_in+fan_out)))', () => {
    const { graph } = graphOf({ depth: 18, foldBatchNorm: false, width: 0.25 });
    const t = graph.initializers.find((x) => x.name === 'layer1.0.conv1.weight')!;
    const w = new Float32Array(t.rawData.buffer, t.rawData.byteOffset, t.rawData.length / 4);
    const bound = Math.sqrt(6 / (16 * 9 + 16 * 9));
    const max = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(max).toBeLessThanOrEqual(bound);
    expect(max).toBeGreaterThan(0.99 * bound);
    expect(Math.abs(w.reduce((a, b) => a + b, 0) / w.length)).toBeLessThan(0.05 * bound);
  });

  it('keeps at least one channel per layer at tiny widths and still runs', async () => {
    const built = await buildModel({ depth: 18, width: 0.01, classes: 3 });
    const conv1 = decodeModel(built.onnx).graph.initializers.find((t) => t.name === 'conv1.weight')!;
    expect(conv1.dims).toEqual([1, 3, 7, 7]);
    expect((await run(built.onnx, images(1, 0), 1)).every(Number.isFinite)).toBe(true);
  });
});

describe('shortcuts A and C', () => {
  it('A is a strided subsample with the new channels zero-padded after the existing ones', async () => {
    const g = new Graph('shortcutA');
    const x = g.input('x', [1, 4, 5, 5]);
    const y = zeroPadShortcut(g, x, 8, 2);
    g.output(y);
    expect(y.shape).toEqual([1, 8, 3, 3]);
    const input = Float32Array.from({ length: 100 }, (_, i) => i - 50.5);
    const session = await ort.InferenceSession.create(
      encodeModel({
        irVersion: IR_VERSION,
        opsetVersion: OPSET_VERSION,
        producerName: 't',
        producerVersion: '1',
        docString: '',
        graph: g.toDef(),
        metadata: [],
      }),
    );
    const out = Array.from(
      (await session.run({ x: new ort.Tensor('float32', input, [1, 4, 5, 5]) }))[y.name]!.data as Float32Array,
    );
    await session.release();
    // Definition: y[c, i, j] = x[c, 2i, 2j] for c < 4, else 0.
    const expected = Array.from({ length: 8 * 9 }, (_, k) => {
      const [c, i, j] = [Math.floor(k / 9), Math.floor((k % 9) / 3), k % 3];
      return c < 4 ? input[c * 25 + 2 * i * 5 + 2 * j]! : 0;
    });
    expect(out).toEqual(expected);
  });

  it.each([
    [50, 'A', { Conv: 49, Slice: 3, Pad: 4 }],
    [50, 'C', { Conv: 65 }],
    [18, 'A', { Conv: 17, Slice: 3, Pad: 3 }],
    [18, 'C', { Conv: 25 }],
  ] as const)('ResNet-%i with shortcut %s has the expected nodes and runs', async (depth, shortcut, counts) => {
    const built = await buildModel({ depth, shortcut, width: 0.125, classes: 10 });
    expect(opCounts(decodeModel(built.onnx).graph)).toMatchObject({ ...counts, Add: blockCount(depth) });
    const logits = await run(built.onnx, images(1, 1), 1);
    expect(logits.every(Number.isFinite)).toBe(true);
  });
});
