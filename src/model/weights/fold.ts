// Folding an inference-mode BatchNorm into the conv before it (exact up to float rounding):
//   BN(conv(x)) = s * (W*x - mean) + beta,  s = gamma / sqrt(var + eps)
//               = (s ⊙ W) * x + (beta - s * mean)
// Computed in float64, rounded once to float32.
import type { BatchNormParams } from './source.ts';

export function foldBatchNorm(
  weight: Float32Array,
  outChannels: number,
  bn: BatchNormParams,
  epsilon: number,
): { weight: Float32Array; bias: Float32Array } {
  const perChannel = weight.length / outChannels;
  const folded = new Float32Array(weight.length);
  const bias = new Float32Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    const scale = (bn.weight[c] ?? 1) / Math.sqrt((bn.runningVar[c] ?? 1) + epsilon);
    bias[c] = (bn.bias[c] ?? 0) - scale * (bn.runningMean[c] ?? 0);
    const start = c * perChannel;
    for (let i = start; i < start + perChannel; i++) folded[i] = (weight[i] ?? 0) * scale;
  }
  return { weight: folded, bias };
}
