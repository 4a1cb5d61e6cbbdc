// The FP32 graph built for calibration: the same network as FLOAT_GRAPH, with every tensor that
// the int8 graph quantizes recorded by site, so calibration can ask onnxruntime for it as an extra
// output. A residual block's site records the ReLU after its add: the int8 graph has no such ReLU,
// and its add's quantization takes this range instead (qdq.ts).
import type { Graph, Value } from '../onnx/graph.ts';
import { FLOAT_GRAPH, type ConvParams, type Quantizer } from './quantizer.ts';

export interface ProbedTensor {
  readonly site: string;
  readonly value: Value;
}

export class CalibrationProbe implements Quantizer {
  readonly #tensors: ProbedTensor[] = [];

  /** Every probed tensor, in graph order. */
  get tensors(): readonly ProbedTensor[] {
    return this.#tensors;
  }

  activation(g: Graph, y: Value, site: string): Value {
    return this.#record(g, site, y);
  }

  convInputs(g: Graph, x: Value, conv: ConvParams): { weight: Value; bias: Value } {
    return FLOAT_GRAPH.convInputs(g, x, conv);
  }

  residualRelu(g: Graph, a: Value, b: Value, site: string): Value {
    return this.#record(g, site, FLOAT_GRAPH.residualRelu(g, a, b, site));
  }

  sameScale(_g: Graph, _x: Value, y: Value): Value {
    return y;
  }

  #record(g: Graph, site: string, value: Value): Value {
    if (this.#tensors.some((t) => t.site === site)) g.fail(`calibration site ${site} is probed twice`);
    this.#tensors.push({ site, value });
    return value;
  }
}
