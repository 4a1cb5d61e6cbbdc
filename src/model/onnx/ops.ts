// One typed function per ONNX operator (spox style): each checks its inputs' shapes, infers the
// output shape and adds the node. Semantics follow the operator's definition at the opset pinned in
// opset.ts (onnx/docs/Operators.md); shape formulas are the ones given there.
import type { AttributeValue, Dim } from './model-def.ts';
import type { Graph, Value } from './graph.ts';

type Pair = readonly [number, number];
/** [top, left, bottom, right], ONNX's [x1_begin, x2_begin, x1_end, x2_end]. */
type Pads4 = readonly [number, number, number, number];

const ints = (value: readonly number[]): AttributeValue => ({ kind: 'ints', value });
const int = (value: number): AttributeValue => ({ kind: 'int', value });

function known(g: Graph, d: Dim | undefined, what: string): number {
  if (typeof d !== 'number') g.fail(`${what} must be a known size, got ${String(d)}`);
  return d;
}

function rank(g: Graph, op: string, x: Value, r: number): void {
  if (x.shape.length !== r) g.fail(`${op}: ${x.name} must have rank ${r}, got [${x.shape.join(',')}]`);
}

function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Output size of a sliding window: floor((in + pads - kernel) / stride) + 1. */
function windowOut(
  g: Graph,
  op: string,
  size: number,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
): number {
  const out = Math.floor((size + padBegin + padEnd - kernel) / stride) + 1;
  if (out < 1) g.fail(`${op}: a ${kernel}x${kernel} window with stride ${stride} does not fit an input of ${size}`);
  return out;
}

export function conv(g: Graph, x: Value, w: Value, b: Value | undefined, opts: { strides: Pair; pads: Pads4 }): Value {
  rank(g, 'Conv', x, 4);
  rank(g, 'Conv', w, 4);
  const [n, c, h, wd] = x.shape;
  const m = known(g, w.shape[0], 'Conv output channels');
  const kh = known(g, w.shape[2], 'Conv kernel height');
  const kw = known(g, w.shape[3], 'Conv kernel width');
  if (w.shape[1] !== c)
    g.fail(`Conv: weight ${w.name} expects ${String(w.shape[1])} input channels, input has ${String(c)}`);
  if (b && !sameShape(b.shape, [m])) g.fail(`Conv: bias ${b.name} must have shape [${m}], got [${b.shape.join(',')}]`);
  const [sh, sw] = opts.strides;
  const [pt, pl, pb, pr] = opts.pads;
  const oh = windowOut(g, 'Conv', known(g, h, 'Conv input height'), kh, sh, pt, pb);
  const ow = windowOut(g, 'Conv', known(g, wd, 'Conv input width'), kw, sw, pl, pr);
  return g.node(
    'Conv',
    b ? [x, w, b] : [x, w],
    { shape: [n ?? 1, m, oh, ow] },
    {
      kernel_shape: ints([kh, kw]),
      strides: ints(opts.strides),
      pads: ints(opts.pads),
      dilations: ints([1, 1]),
      group: int(1),
    },
  );
}

/** Inference-mode BatchNormalization-15: y = scale * (x - mean) / sqrt(var + epsilon) + bias. */
export function batchNormalization(
  g: Graph,
  x: Value,
  params: { scale: Value; bias: Value; mean: Value; variance: Value },
  opts: { epsilon: number },
): Value {
  rank(g, 'BatchNormalization', x, 4);
  const c = known(g, x.shape[1], 'BatchNormalization channels');
  for (const p of [params.scale, params.bias, params.mean, params.variance]) {
    if (!sameShape(p.shape, [c]))
      g.fail(`BatchNormalization: ${p.name} must have shape [${c}], got [${p.shape.join(',')}]`);
  }
  return g.node(
    'BatchNormalization',
    [x, params.scale, params.bias, params.mean, params.variance],
    { shape: x.shape },
    {
      epsilon: { kind: 'float', value: opts.epsilon },
    },
  );
}

export function relu(g: Graph, x: Value): Value {
  return g.node('Relu', [x], { shape: x.shape });
}

/** Elementwise sum of two tensors of the same shape (no broadcasting is needed in a ResNet). */
export function add(g: Graph, a: Value, b: Value): Value {
  if (!sameShape(a.shape, b.shape)) g.fail(`Add: shapes differ: [${a.shape.join(',')}] + [${b.shape.join(',')}]`);
  return g.node('Add', [a, b], { shape: a.shape });
}

export function maxPool(g: Graph, x: Value, opts: { kernel: Pair; strides: Pair; pads: Pads4 }): Value {
  rank(g, 'MaxPool', x, 4);
  const [n, c, h, w] = x.shape;
  const oh = windowOut(
    g,
    'MaxPool',
    known(g, h, 'MaxPool input height'),
    opts.kernel[0],
    opts.strides[0],
    opts.pads[0],
    opts.pads[2],
  );
  const ow = windowOut(
    g,
    'MaxPool',
    known(g, w, 'MaxPool input width'),
    opts.kernel[1],
    opts.strides[1],
    opts.pads[1],
    opts.pads[3],
  );
  return g.node(
    'MaxPool',
    [x],
    { shape: [n ?? 1, c ?? 1, oh, ow] },
    {
      kernel_shape: ints(opts.kernel),
      strides: ints(opts.strides),
      pads: ints(opts.pads),
    },
  );
}

export function globalAveragePool(g: Graph, x: Value): Value {
  rank(g, 'GlobalAveragePool', x, 4);
  return g.node('GlobalAveragePool', [x], { shape: [x.shape[0] ?? 1, x.shape[1] ?? 1, 1, 1] });
}

/** Flatten-13 with axis 1: [N, d1, d2, ...] -> [N, d1*d2*...]. */
export function flatten(g: Graph, x: Value): Value {
  const inner = x.shape.slice(1).reduce<number>((p, d) => p * known(g, d, 'Flatten inner dimension'), 1);
  return g.node('Flatten', [x], { shape: [x.shape[0] ?? 1, inner] }, { axis: int(1) });
}

/** Gemm-13 with transB = 1, as a fully connected layer: y = x · wᵀ + b, w is [out, in]. */
export function gemm(g: Graph, x: Value, w: Value, b: Value, opts: { name?: string } = {}): Value {
  rank(g, 'Gemm', x, 2);
  rank(g, 'Gemm', w, 2);
  const out = known(g, w.shape[0], 'Gemm output features');
  if (w.shape[1] !== x.shape[1])
    g.fail(`Gemm: weight ${w.name} expects ${String(w.shape[1])} features, input has ${String(x.shape[1])}`);
  if (!sameShape(b.shape, [out])) g.fail(`Gemm: bias ${b.name} must have shape [${out}], got [${b.shape.join(',')}]`);
  return g.node(
    'Gemm',
    [x, w, b],
    { shape: [x.shape[0] ?? 1, out], name: opts.name },
    {
      alpha: { kind: 'float', value: 1 },
      beta: { kind: 'float', value: 1 },
      transB: int(1),
    },
  );
}

export function softmax(g: Graph, x: Value, opts: { axis: number; name?: string }): Value {
  if (opts.axis < 0 || opts.axis >= x.shape.length)
    g.fail(`Softmax: axis ${opts.axis} is outside rank ${x.shape.length}`);
  return g.node('Softmax', [x], { shape: x.shape, name: opts.name }, { axis: int(opts.axis) });
}

/** Slice-13 with positive steps: keeps start, start+step, ... below end on each given axis. */
export function slice(
  g: Graph,
  x: Value,
  opts: { axes: readonly number[]; starts: readonly number[]; ends: readonly number[]; steps: readonly number[] },
): Value {
  const shape = [...x.shape];
  opts.axes.forEach((axis, i) => {
    const size = known(g, shape[axis], `Slice axis ${axis}`);
    const start = Math.min(opts.starts[i] ?? 0, size);
    const end = Math.min(opts.ends[i] ?? size, size);
    const step = opts.steps[i] ?? 1;
    if (step < 1) g.fail(`Slice: step ${step} on axis ${axis} must be >= 1`);
    shape[axis] = Math.max(0, Math.ceil((end - start) / step));
  });
  const inputs = [
    x,
    g.constInt64('starts', opts.starts),
    g.constInt64('ends', opts.ends),
    g.constInt64('axes', opts.axes),
    g.constInt64('steps', opts.steps),
  ];
  return g.node('Slice', inputs, { shape });
}

/** Pad-13, constant mode with zeros: pads = [begin per axis..., end per axis...]. */
export function pad(g: Graph, x: Value, pads: readonly number[]): Value {
  const r = x.shape.length;
  if (pads.length !== 2 * r) g.fail(`Pad: needs ${2 * r} pad values for rank ${r}, got ${pads.length}`);
  const shape = x.shape.map((d, i) =>
    (pads[i] ?? 0) === 0 && (pads[i + r] ?? 0) === 0
      ? d
      : known(g, d, `Pad axis ${i}`) + (pads[i] ?? 0) + (pads[i + r] ?? 0),
  );
  return g.node('Pad', [x, g.constInt64('pads', pads)], { shape }, { mode: { kind: 'string', value: 'constant' } });
}

const QUANTIZED_TYPES = ['uint8', 'int8', 'int32'] as const;

/** Scale and zero point of QuantizeLinear/DequantizeLinear: scalars (per tensor) or vectors along `axis`. */
function checkQuantParams(
  g: Graph,
  op: string,
  x: Value,
  scale: Value,
  zeroPoint: Value,
  axis: number | undefined,
): void {
  if (scale.type !== 'float32') g.fail(`${op}: scale ${scale.name} must be float32, got ${scale.type}`);
  if (!(QUANTIZED_TYPES as readonly string[]).includes(zeroPoint.type))
    g.fail(`${op}: zero point ${zeroPoint.name} must be ${QUANTIZED_TYPES.join(', ')}, got ${zeroPoint.type}`);
  if (!sameShape(scale.shape, zeroPoint.shape))
    g.fail(`${op}: scale [${scale.shape.join(',')}] and zero point [${zeroPoint.shape.join(',')}] differ in shape`);
  if (axis === undefined) {
    if (scale.shape.length !== 0) g.fail(`${op}: a per-tensor scale must be a scalar, got [${scale.shape.join(',')}]`);
    return;
  }
  const size = known(g, x.shape[axis], `${op} axis ${axis}`);
  if (!sameShape(scale.shape, [size]))
    g.fail(`${op}: a per-axis scale must have shape [${size}] (axis ${axis}), got [${scale.shape.join(',')}]`);
}

/**
 * QuantizeLinear-13, per tensor: y = saturate(round_half_even(x / scale) + zeroPoint), of the zero
 * point's type (uint8 here: values outside [0, 255] clamp to the ends).
 */
export function quantizeLinear(g: Graph, x: Value, scale: Value, zeroPoint: Value): Value {
  if (x.type !== 'float32') g.fail(`QuantizeLinear: ${x.name} must be float32, got ${x.type}`);
  checkQuantParams(g, 'QuantizeLinear', x, scale, zeroPoint, undefined);
  return g.node('QuantizeLinear', [x, scale, zeroPoint], { shape: x.shape, type: zeroPoint.type });
}

/** DequantizeLinear-13: y = (x - zeroPoint) * scale, per tensor or per channel along `axis` (float32 out). */
export function dequantizeLinear(
  g: Graph,
  x: Value,
  scale: Value,
  zeroPoint: Value,
  opts: { axis?: number } = {},
): Value {
  if (x.type !== zeroPoint.type)
    g.fail(`DequantizeLinear: ${x.name} is ${x.type} but its zero point ${zeroPoint.name} is ${zeroPoint.type}`);
  checkQuantParams(g, 'DequantizeLinear', x, scale, zeroPoint, opts.axis);
  return g.node(
    'DequantizeLinear',
    [x, scale, zeroPoint],
    { shape: x.shape },
    opts.axis === undefined ? {} : { axis: int(opts.axis) },
  );
}
