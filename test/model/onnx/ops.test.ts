import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from '../../../src/model/onnx/codec.ts';
import { Graph, GraphShapeError, type Value } from '../../../src/model/onnx/graph.ts';
import {
  add,
  batchNormalization,
  conv,
  flatten,
  gemm,
  globalAveragePool,
  maxPool,
  pad,
  relu,
  slice,
  softmax,
} from '../../../src/model/onnx/ops.ts';
import type { AttributeValue } from '../../../src/model/onnx/model-def.ts';
import { IR_VERSION, OPSET_VERSION } from '../../../src/model/onnx/opset.ts';
import { thrown } from '../thrown.ts';

const weights = (g: Graph, name: string, dims: number[]): Value =>
  g.initializer(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)));

const shapeError = (build: (g: Graph) => unknown): GraphShapeError =>
  thrown(GraphShapeError, () => build(new Graph('t')));

describe('typed ONNX operators infer shapes while building', () => {
  it('infers conv, pool, head and slice/pad shapes with a symbolic batch', () => {
    const g = new Graph('t');
    const x = g.input('x', ['batch', 3, 224, 224]);
    const y = conv(g, x, weights(g, 'w', [8, 3, 7, 7]), weights(g, 'b', [8]), { strides: [2, 2], pads: [3, 3, 3, 3] });
    expect(y.shape).toEqual(['batch', 8, 112, 112]);
    const p = maxPool(g, y, { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    expect(p.shape).toEqual(['batch', 8, 56, 56]);
    expect(slice(g, p, { axes: [2, 3], starts: [0, 0], ends: [56, 56], steps: [2, 2] }).shape).toEqual([
      'batch',
      8,
      28,
      28,
    ]);
    expect(
      slice(g, g.input('odd', [1, 2, 7, 7]), { axes: [2, 3], starts: [0, 0], ends: [7, 7], steps: [2, 2] }).shape,
    ).toEqual([1, 2, 4, 4]);
    expect(pad(g, p, [0, 0, 0, 0, 0, 24, 0, 0]).shape).toEqual(['batch', 32, 56, 56]);
    const f = flatten(g, globalAveragePool(g, p));
    expect(f.shape).toEqual(['batch', 8]);
    expect(softmax(g, gemm(g, f, weights(g, 'fw', [5, 8]), weights(g, 'fb', [5])), { axis: 1 }).shape).toEqual([
      'batch',
      5,
    ]);
  });

  it.each([
    [
      'conv input channels',
      (g: Graph) =>
        g.withScope('layer2.0', () =>
          g.withScope('conv2', () =>
            conv(g, g.input('x', [1, 4, 8, 8]), weights(g, 'w', [4, 3, 3, 3]), undefined, {
              strides: [1, 1],
              pads: [1, 1, 1, 1],
            }),
          ),
        ),
      /^layer2\.0\.conv2: Conv: weight w expects 3 input channels, input has 4$/,
    ],
    [
      'conv bias',
      (g: Graph) =>
        conv(g, g.input('x', [1, 3, 8, 8]), weights(g, 'w', [4, 3, 1, 1]), weights(g, 'b', [5]), {
          strides: [1, 1],
          pads: [0, 0, 0, 0],
        }),
      /bias b must have shape \[4\]/,
    ],
    [
      'conv window larger than the input',
      (g: Graph) =>
        conv(g, g.input('x', [1, 3, 2, 2]), weights(g, 'w', [4, 3, 7, 7]), undefined, {
          strides: [1, 1],
          pads: [0, 0, 0, 0],
        }),
      /a 7x7 window with stride 1 does not fit an input of 2/,
    ],
    [
      'conv rank',
      (g: Graph) =>
        conv(g, g.input('x', [1, 3, 8]), weights(g, 'w', [4, 3, 1, 1]), undefined, {
          strides: [1, 1],
          pads: [0, 0, 0, 0],
        }),
      /x must have rank 4/,
    ],
    [
      'conv on a symbolic spatial size',
      (g: Graph) =>
        conv(g, g.input('x', [1, 3, 'h', 8]), weights(g, 'w', [4, 3, 1, 1]), undefined, {
          strides: [1, 1],
          pads: [0, 0, 0, 0],
        }),
      /Conv input height must be a known size, got h/,
    ],
    [
      'batch norm parameters',
      (g: Graph) =>
        batchNormalization(
          g,
          g.input('x', [1, 3, 4, 4]),
          {
            scale: weights(g, 's', [3]),
            bias: weights(g, 'b', [3]),
            mean: weights(g, 'm', [2]),
            variance: weights(g, 'v', [3]),
          },
          { epsilon: 1e-5 },
        ),
      /m must have shape \[3\]/,
    ],
    [
      'add of different shapes',
      (g: Graph) => g.withScope('layer1.0', () => add(g, g.input('a', [1, 4, 8, 8]), g.input('b', [1, 8, 8, 8]))),
      /^layer1\.0: Add: shapes differ/,
    ],
    [
      'gemm features',
      (g: Graph) => gemm(g, g.input('x', [1, 8]), weights(g, 'w', [5, 7]), weights(g, 'b', [5])),
      /expects 7 features, input has 8/,
    ],
    [
      'gemm bias',
      (g: Graph) => gemm(g, g.input('x', [1, 8]), weights(g, 'w', [5, 8]), weights(g, 'b', [4])),
      /bias b must have shape \[5\]/,
    ],
    ['softmax axis', (g: Graph) => softmax(g, g.input('x', [1, 8]), { axis: 2 }), /axis 2 is outside rank 2/],
    [
      'slice step',
      (g: Graph) => slice(g, g.input('x', [1, 8]), { axes: [1], starts: [0], ends: [8], steps: [0] }),
      /step 0 on axis 1 must be >= 1/,
    ],
    ['pad length', (g: Graph) => pad(g, g.input('x', [1, 8]), [0, 1]), /needs 4 pad values for rank 2/],
    [
      'flatten of a symbolic inner size',
      (g: Graph) => flatten(g, g.input('x', [1, 'c'])),
      /Flatten inner dimension must be a known size/,
    ],
    [
      'an initializer of the wrong length',
      (g: Graph) => g.initializer('w', [2, 2], new Float32Array(3)),
      /initializer w has 3 values, shape \[2,2\] needs 4/,
    ],
    [
      'a name used twice',
      (g: Graph) => {
        g.input('x', [1]);
        g.input('x', [1]);
      },
      /the name x is used twice/,
    ],
  ])('names the block and the problem: %s', (_, build, message) => {
    const err = shapeError(build);
    expect(err.code).toBe('GRAPH_SHAPE_ERROR');
    expect(err.message).toMatch(message);
  });
});

describe('the codec', () => {
  it('round-trips every attribute kind, int64 and float initializers, symbolic dims and metadata', () => {
    const g = new Graph('roundtrip');
    const x = g.input('x', ['batch', 2, 4, 4]);
    const y = relu(
      g,
      pad(g, slice(g, x, { axes: [2, 3], starts: [0, 0], ends: [4, 4], steps: [2, 2] }), [0, 0, 0, 0, 0, 1, 0, 0]),
    );
    const b = batchNormalization(
      g,
      y,
      {
        scale: g.initializer('s', [3], Float32Array.of(1, 2, 3)),
        bias: weights(g, 'b', [3]),
        mean: weights(g, 'm', [3]),
        variance: g.initializer('v', [3], Float32Array.of(1, 1, 1)),
      },
      { epsilon: 1e-5 },
    );
    g.output(conv(g, b, weights(g, 'w', [2, 3, 1, 1]), undefined, { strides: [1, 1], pads: [0, 0, 0, 0] }));
    const def = {
      irVersion: IR_VERSION,
      opsetVersion: OPSET_VERSION,
      producerName: 'p',
      producerVersion: '1',
      docString: 'd',
      graph: g.toDef(),
      metadata: [['k', 'v'] as const],
    };
    const back = decodeModel(encodeModel(def));
    expect(back.irVersion).toBe(8);
    expect(back.opsetVersion).toBe(17);
    expect(back.metadata).toEqual([['k', 'v']]);
    expect(back.graph.inputs).toEqual([{ name: 'x', elementType: 'float32', shape: ['batch', 2, 4, 4] }]);
    // Floats are stored as float32 in ONNX.
    const asStored = (attrs: Readonly<Record<string, AttributeValue>>) =>
      Object.fromEntries(
        Object.entries(attrs).map(([k, a]) => [k, a.kind === 'float' ? { ...a, value: Math.fround(a.value) } : a]),
      );
    expect(back.graph.nodes.map((n) => [n.opType, n.inputs, n.outputs, n.attributes])).toEqual(
      def.graph.nodes.map((n) => [n.opType, n.inputs, n.outputs, asStored(n.attributes)]),
    );
    const bn = back.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
    expect(bn.attributes.epsilon).toEqual({ kind: 'float', value: Math.fround(1e-5) });
    expect(back.graph.nodes.find((n) => n.opType === 'Conv')!.attributes).toMatchObject({
      group: { kind: 'int', value: 1 },
      strides: { kind: 'ints', value: [1, 1] },
    });
    expect(back.graph.nodes.find((n) => n.opType === 'Pad')!.attributes).toEqual({
      mode: { kind: 'string', value: 'constant' },
    });
    expect(back.graph.initializers.map((t) => [t.name, t.dataType, t.dims, Array.from(t.rawData)])).toEqual(
      def.graph.initializers.map((t) => [t.name, t.dataType, [...t.dims], Array.from(t.rawData)]),
    );
  });

  it('writes graphs onnxruntime runs: slice + zero-pad + relu on known values', async () => {
    const g = new Graph('run');
    const x = g.input('x', [1, 1, 2, 2]);
    const y = relu(g, pad(g, x, [0, 0, 0, 0, 0, 1, 0, 0]));
    g.output(y);
    const session = await ort.InferenceSession.create(
      encodeModel({
        irVersion: IR_VERSION,
        opsetVersion: OPSET_VERSION,
        producerName: 'p',
        producerVersion: '1',
        docString: '',
        graph: g.toDef(),
        metadata: [],
      }),
    );
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(-1, 2, 3, -4), [1, 1, 2, 2]) });
    const result = out[y.name]!;
    expect(result.dims).toEqual([1, 2, 2, 2]);
    expect(Array.from(result.data as Float32Array)).toEqual([0, 2, 3, 0, 0, 0, 0, 0]);
    await session.release();
  });
});
