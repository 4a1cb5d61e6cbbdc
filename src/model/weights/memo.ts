// A weight source read twice without cost: an int8 build builds the network twice (the FP32
// calibration probe, then the QDQ graph), and the second pass must see the same numbers without
// drawing seeded weights or converting a file's tensors again.
import type { WeightsSource } from '../manifest.ts';
import type { BatchNormParams, ConvBnRequest, LinearWeights, WeightSource } from './source.ts';

export class MemoizedWeights implements WeightSource {
  readonly #source: WeightSource;
  readonly #convBn = new Map<string, { weight: Float32Array; bn: BatchNormParams }>();
  readonly #linear = new Map<string, LinearWeights>();

  constructor(source: WeightSource) {
    this.#source = source;
  }

  get description(): WeightsSource {
    return this.#source.description;
  }

  convBn(request: ConvBnRequest): { weight: Float32Array; bn: BatchNormParams } {
    let found = this.#convBn.get(request.conv);
    if (found === undefined) this.#convBn.set(request.conv, (found = this.#source.convBn(request)));
    return found;
  }

  linear(name: string, outFeatures: number, inFeatures: number): LinearWeights {
    let found = this.#linear.get(name);
    if (found === undefined) this.#linear.set(name, (found = this.#source.linear(name, outFeatures, inFeatures)));
    return found;
  }

  finish(): void {
    this.#source.finish();
  }
}
