// The int8 ResNet in QDQ form: float ops between QuantizeLinear -> DequantizeLinear pairs, which
// onnxruntime's QDQ transformers (onnxruntime/core/optimizer/qdq_transformer/) rewrite into integer
// kernels. The rules below are what makes every Conv a QLinearConv and every residual Add a
// QLinearAdd in onnxruntime 1.30 (test/model/quantize/fusion.test.ts counts them):
//  1. Activations are uint8, asymmetric; weights int8, symmetric per output channel
//     (DequantizeLinear axis 0, zero point 0; 7-bit, see params.ts): the U8S8 form of onnxruntime's
//     x86 integer kernels.
//  2. A Conv's bias is int32 with scale = input scale x weight scale (params.ts), the units of the
//     integer accumulator, so the fused kernel adds it as is.
//  3. Nothing between a Conv and the ReLU after it; the QuantizeLinear goes after the ReLU with zero
//     point 0, where onnxruntime drops the ReLU (ReluQuantFusion: Q's clamp at 0 is the ReLU).
//  4. A Conv that feeds an Add gets its own Q -> DQ, so the Add has DQ on both inputs and Q on its
//     output: the QLinearAdd pattern.
//  5. The ReLU after a residual Add is not emitted: the Add's QuantizeLinear takes that ReLU's
//     calibrated range with zero point 0, and its clamp to [0, 255] is the ReLU. With the ReLU in
//     place, every block keeps an extra requantize pair (measured: 17 QuantizeLinear and 17
//     DequantizeLinear left in the optimised ResNet-50 instead of 1 + 1).
//  6. MaxPool, Slice and a zero Pad reuse their input's scale and zero point (the same initializers),
//     the condition for onnxruntime to drop the Q/DQ around them and run them on uint8.
// The graph input and outputs stay float32: the input is quantized first thing, and the head
// (GlobalAveragePool, Flatten, Gemm, Softmax) reads the last block's DequantizeLinear in float.
import type { Graph, Value } from '../onnx/graph.ts';
import { add, dequantizeLinear, quantizeLinear } from '../onnx/ops.ts';
import { activationParams, quantizeBias, quantizeWeights, type ActivationParams, type Range } from './params.ts';
import type { ConvParams, Quantizer } from './quantizer.ts';

/** A quantized activation's parameters as graph values, shared by every Q and DQ that uses them. */
interface QuantValues {
  readonly params: ActivationParams;
  readonly scale: Value;
  readonly zeroPoint: Value;
}

export class MissingRangeError extends Error {
  readonly code = 'CALIBRATION_RANGE_MISSING';
}

export class QdqQuantizer implements Quantizer {
  readonly #ranges: ReadonlyMap<string, Range>;
  /** DequantizeLinear outputs -> the quantization they undo, so convs and pass-through ops can ask. */
  readonly #quantized = new Map<string, QuantValues>();

  constructor(ranges: ReadonlyMap<string, Range>) {
    this.#ranges = ranges;
  }

  activation(g: Graph, y: Value, site: string, afterRelu: boolean): Value {
    return this.#qdq(g, y, this.#values(g, site, afterRelu));
  }

  convInputs(g: Graph, x: Value, conv: ConvParams): { weight: Value; bias: Value } {
    const [out] = conv.shape;
    const input = this.#of(g, x);
    const w = quantizeWeights(conv.weight, out);
    const b = quantizeBias(conv.bias, input.params.scale, w.scales);
    const weight = dequantizeLinear(
      g,
      g.initializer(`${conv.name}.weight_quantized`, conv.shape, w.values),
      g.initializer(`${conv.name}.weight_scale`, [out], w.scales),
      g.initializer(`${conv.name}.weight_zero_point`, [out], new Int8Array(out)),
      { axis: 0 },
    );
    const bias = dequantizeLinear(
      g,
      g.initializer(`${conv.name}.bias_quantized`, [out], b.values),
      g.initializer(`${conv.name}.bias_scale`, [out], b.scales),
      g.initializer(`${conv.name}.bias_zero_point`, [out], new Int32Array(out)),
      { axis: 0 },
    );
    return { weight, bias };
  }

  residualRelu(g: Graph, a: Value, b: Value, site: string): Value {
    return this.#qdq(g, add(g, a, b), this.#values(g, site, true));
  }

  sameScale(g: Graph, x: Value, y: Value): Value {
    return this.#qdq(g, y, this.#of(g, x));
  }

  #values(g: Graph, site: string, afterRelu: boolean): QuantValues {
    const range = this.#ranges.get(site);
    if (range === undefined) throw new MissingRangeError(`${g.scope || site}: no calibrated range for site ${site}`);
    const params = activationParams(range, afterRelu);
    return {
      params,
      scale: g.initializer(`${site}.output_scale`, [], Float32Array.of(params.scale)),
      zeroPoint: g.initializer(`${site}.output_zero_point`, [], Uint8Array.of(params.zeroPoint)),
    };
  }

  #qdq(g: Graph, y: Value, q: QuantValues): Value {
    const dq = dequantizeLinear(g, quantizeLinear(g, y, q.scale, q.zeroPoint), q.scale, q.zeroPoint);
    this.#quantized.set(dq.name, q);
    return dq;
  }

  #of(g: Graph, x: Value): QuantValues {
    const q = this.#quantized.get(x.name);
    if (q === undefined) g.fail(`${x.name} is read as quantized, but no DequantizeLinear made it`);
    return q;
  }
}
