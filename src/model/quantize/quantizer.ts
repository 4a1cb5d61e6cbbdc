// Where the ResNet graph code meets quantization. blocks.ts and resnet.ts call these at the few
// places a precision changes the graph; each precision answers differently:
//   FLOAT_GRAPH  (this file)  the FP32 network, node for node what the builder always wrote;
//   CalibrationProbe (probe.ts) the FP32 network, remembering which tensors calibration must see;
//   QdqQuantizer (qdq.ts)     the int8 network in QDQ form, from the ranges calibration recorded.
// A site names a quantization point after the torchvision module whose output it is: `input`,
// `conv1`, `layer1.0.conv2`, `layer1.0.downsample.0`, and a block (`layer1.0`) for its output.
import { add, relu } from '../onnx/ops.ts';
import type { Graph, Value } from '../onnx/graph.ts';

export const PRECISIONS = ['fp32', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];

export interface ConvParams {
  /** The conv's torchvision name, e.g. "layer1.0.conv1". */
  readonly name: string;
  /** [out, in, kh, kw] */
  readonly shape: readonly [number, number, number, number];
  /** BatchNorm already folded in. */
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

export interface Quantizer {
  /** A tensor at a quantization point, as the ops after it read it; `afterRelu` when a ReLU made it. */
  activation(g: Graph, y: Value, site: string, afterRelu: boolean): Value;
  /** A folded conv's weight and bias as Conv inputs; `x` is the conv's input as this quantizer returned it. */
  convInputs(g: Graph, x: Value, conv: ConvParams): { weight: Value; bias: Value };
  /** relu(a + b), the end of a residual block, as the next block reads it. */
  residualRelu(g: Graph, a: Value, b: Value, site: string): Value;
  /** `y` made from `x` by an op that only picks or moves values (MaxPool, Slice, zero Pad). */
  sameScale(g: Graph, x: Value, y: Value): Value;
}

/** The FP32 graph: float initializers, nothing inserted. */
export const FLOAT_GRAPH: Quantizer = {
  activation: (_g, y) => y,
  convInputs: (g, _x, conv) => ({
    weight: g.initializer(`${conv.name}.weight`, conv.shape, conv.weight),
    bias: g.initializer(`${conv.name}.bias`, [conv.shape[0]], conv.bias),
  }),
  residualRelu: (g, a, b) => relu(g, add(g, a, b)),
  sameScale: (_g, _x, y) => y,
};
