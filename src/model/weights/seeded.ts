// Seeded initialisation: the embedded default model's weights. They are not trained: predictions
// are meaningless, and the manifest says so (trained: false).
//   conv and fc weights: Glorot/Xavier uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), as
//   the original TensorFlow/Keras ResNet-50 (glorot_uniform) does; fan = channels x kernel area.
//   fc bias: zeros. BatchNorm: mean 0, beta 0, running_var = the variance a Glorot conv gives a
//   unit-variance input (fan_in · a² / 3), so each BN normalises as a trained one would, and
//   gamma = sqrt(2) where a ReLU follows (He et al. 2015: ReLU halves the second moment). The
//   residual stream then keeps its scale through all blocks, so logits stay finite and
//   image-dependent instead of vanishing or exploding with depth.
import type { WeightsSource } from '../manifest.ts';
import { fillUniform, streamSeed } from './prng.ts';
import type { BatchNormParams, ConvBnRequest, LinearWeights, WeightSource } from './source.ts';

function glorot(
  seed: number,
  name: string,
  count: number,
  fanIn: number,
  fanOut: number,
): { values: Float32Array; variance: number } {
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  const values = new Float32Array(count);
  fillUniform(values, streamSeed(seed, name), -bound, bound);
  return { values, variance: (bound * bound) / 3 };
}

export class SeededWeights implements WeightSource {
  readonly description: WeightsSource;
  #seed: number;
  #residualGain: number;

  /** @param residualBranches the number of residual blocks, which scales each branch's last BN. */
  constructor(seed: number, residualBranches: number) {
    this.#seed = seed;
    this.#residualGain = 1 / Math.sqrt(residualBranches);
    this.description = { kind: 'seeded', trained: false, seed };
  }

  convBn(request: ConvBnRequest): { weight: Float32Array; bn: BatchNormParams } {
    const [out, inC, kh, kw] = request.shape;
    const area = kh * kw;
    const { values, variance } = glorot(this.#seed, `${request.conv}.weight`, out * inC * area, inC * area, out * area);
    const gain = request.role === 'relu' ? Math.SQRT2 : request.role === 'residual' ? this.#residualGain : 1;
    const bn: BatchNormParams = {
      weight: new Float32Array(out).fill(gain),
      bias: new Float32Array(out),
      runningMean: new Float32Array(out),
      runningVar: new Float32Array(out).fill(inC * area * variance),
    };
    return { weight: values, bn };
  }

  linear(name: string, outFeatures: number, inFeatures: number): LinearWeights {
    const { values } = glorot(this.#seed, `${name}.weight`, outFeatures * inFeatures, inFeatures, outFeatures);
    return { weight: values, bias: new Float32Array(outFeatures) };
  }

  finish(): void {}
}
