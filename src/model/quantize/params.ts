// The numbers of an int8 model: uint8 activation scales and zero points from calibrated ranges,
// int8 per-channel weights, int32 biases. Formulas are ONNX QuantizeLinear's
// (y = saturate(round_half_even(x / scale) + zero_point)) and the linear scheme of onnxruntime's
// quantization tool (onnxruntime/python/tools/quantization/quant_utils.py: compute_scale_zp).
// Every scale is rounded to float32 here, once, because that is the value the file stores and the
// runtime multiplies by.

/** A tensor's observed range, [min, max]. */
export type Range = readonly [number, number];

/** uint8 quantization of one tensor: real = (q - zeroPoint) * scale. */
export interface ActivationParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

export const UINT8_MAX = 255;
/**
 * Weights use [-64, 64] of int8 (7 bits, onnxruntime's `reduce_range`), zero point 0. Why not
 * [-127, 127]: on AVX2 without VNNI, onnxruntime's U8S8 kernels multiply with VPMADDUBSW, which adds
 * two uint8 x int8 products into a saturating int16; 255 x 127 x 2 overflows it, 255 x 64 x 2 =
 * 32640 does not. Measured on ResNet-50 (models/README.md): with 8-bit weights the fused kernels
 * were 0.4-8.8% of max|logit| away from the same QDQ graph computed in float, with 7-bit weights
 * 0.4-0.9%, and the integer sums are the same on AVX2, VNNI and AMX, so a model checks the same
 * everywhere.
 */
export const INT8_WEIGHT_MAX = 64;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** ONNX QuantizeLinear rounds half to even ("round to nearest, ties to even"). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/**
 * uint8 parameters covering `range`, widened to include 0 so that zero (padding, a ReLU's floor) is
 * exact. `afterRelu` pins the minimum to 0, which makes the zero point 0: onnxruntime folds a ReLU
 * into the QuantizeLinear after it only when the zero point is the type's minimum.
 */
export function activationParams(range: Range, afterRelu: boolean): ActivationParams {
  const min = afterRelu ? 0 : Math.min(0, range[0]);
  const max = Math.max(0, range[1]);
  if (!(Number.isFinite(min) && Number.isFinite(max)))
    throw new RangeError(`a calibrated range must be finite, got [${range[0]}, ${range[1]}]`);
  // An all-zero tensor (a dead channel group) needs a positive scale; any value represents 0 exactly.
  const scale = max > min ? Math.fround((max - min) / UINT8_MAX) : 1;
  return { scale, zeroPoint: clamp(roundHalfEven(-min / scale), 0, UINT8_MAX) };
}

export interface QuantizedWeights {
  readonly values: Int8Array;
  /** One scale per output channel (axis 0). */
  readonly scales: Float32Array;
}

/** Symmetric per-output-channel int8: scale_c = max|w_c| / INT8_WEIGHT_MAX, zero point 0. */
export function quantizeWeights(weight: Float32Array, outChannels: number): QuantizedWeights {
  const perChannel = weight.length / outChannels;
  const values = new Int8Array(weight.length);
  const scales = new Float32Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    const start = c * perChannel;
    let maxAbs = 0;
    for (let i = start; i < start + perChannel; i++) maxAbs = Math.max(maxAbs, Math.abs(weight[i] ?? 0));
    const scale = maxAbs > 0 ? Math.fround(maxAbs / INT8_WEIGHT_MAX) : 1;
    scales[c] = scale;
    for (let i = start; i < start + perChannel; i++)
      values[i] = clamp(roundHalfEven((weight[i] ?? 0) / scale), -INT8_WEIGHT_MAX, INT8_WEIGHT_MAX);
  }
  return { values, scales };
}

/**
 * int32 bias with scale_c = input scale x weight scale_c (float32 product), zero point 0: the
 * integer accumulator of a QLinearConv is in exactly those units, so the runtime adds the bias as is.
 */
export function quantizeBias(
  bias: Float32Array,
  inputScale: number,
  weightScales: Float32Array,
): { values: Int32Array; scales: Float32Array } {
  const scales = weightScales.map((s) => Math.fround(inputScale * s));
  const values = new Int32Array(bias.length);
  bias.forEach((b, c) => (values[c] = clamp(roundHalfEven(b / (scales[c] ?? 1)), INT32_MIN, INT32_MAX)));
  return { values, scales };
}
