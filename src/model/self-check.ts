// The startup self-check: the builder stores the model's logits for one fixed input in the
// manifest; the inference worker recomputes them during warm-up and refuses to start when they
// differ by more than the precision's tolerance (a damaged file, a wrong kernel, a CPU that
// computes differently). The input is generated, not read, so any copy of the model can be checked.
import type { Precision } from './quantize/quantizer.ts';

export const REFERENCE_INPUT = 'pattern-v1' as const;

export interface ReferenceOutputs {
  /** Which generated input: referenceInput(). */
  readonly input: typeof REFERENCE_INPUT;
  /** The logits of batch 1 of that input, as the builder's onnxruntime computed them. */
  readonly logits: readonly number[];
}

/**
 * Largest |logit - reference| allowed, as a fraction of the largest |reference logit|. Measured on
 * ResNet-18/50/101 (models/README.md, "Startup self-check"): FP32 logits are bit-identical across
 * thread counts and move by < 1e-6 on another kernel path (optimisations off); int8's integer sums
 * are exact on every x86 CPU (7-bit weights, params.ts), and two correct int8 paths (fused integer
 * kernels, and the QDQ graph computed in float, as a provider without int8 kernels would) differed
 * by up to 0.026. The tolerances leave room for GPUs (TF32) and deeper nets, and still refuse the
 * failures seen: 8-bit weights on AVX2 were 0.42 off, an edited reference or weight far more.
 */
export const SELF_CHECK_TOLERANCE: Readonly<Record<Precision, number>> = Object.freeze({ fp32: 0.01, int8: 0.1 });

/**
 * A deterministic, photo-like image in normalised units ([3, h, w]): a tilted gradient, two
 * sinusoids per channel and a bright disc with sharp edges, within [-2.1, 2.6] like real inputs.
 */
export function referenceInput(height: number, width: number): Float32Array {
  const x = new Float32Array(3 * height * width);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        const u = j / width;
        const v = i / height;
        const disc = (u - 0.62) ** 2 + (v - 0.38) ** 2 < 0.04 ? 1.4 : 0;
        const value =
          1.6 * (0.7 * u + 0.3 * v) -
          0.9 +
          0.6 * Math.sin(2 * Math.PI * (3 * u + c / 3)) * Math.cos(2 * Math.PI * 2 * v) +
          0.3 * Math.sin(2 * Math.PI * (11 * v + 7 * u)) +
          disc * (c === 1 ? 0.5 : 1);
        x[(c * height + i) * width + j] = Math.max(-2.1, Math.min(2.6, value));
      }
    }
  }
  return x;
}

export interface Deviation {
  readonly maxAbsDiff: number;
  readonly maxAbsLogit: number;
  /** maxAbsDiff / maxAbsLogit: what the tolerance bounds. */
  readonly relative: number;
}

export function deviation(reference: ArrayLike<number>, actual: ArrayLike<number>): Deviation {
  if (reference.length !== actual.length) return { maxAbsDiff: Infinity, maxAbsLogit: 0, relative: Infinity };
  let maxAbsDiff = 0;
  let maxAbsLogit = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i] as number;
    const d = Math.abs(r - (actual[i] as number));
    // NaN compares false: a NaN output must fail, not pass.
    maxAbsDiff = d > maxAbsDiff || Number.isNaN(d) ? d : maxAbsDiff;
    maxAbsLogit = Math.max(maxAbsLogit, Math.abs(r));
  }
  return { maxAbsDiff, maxAbsLogit, relative: maxAbsDiff / Math.max(maxAbsLogit, Number.MIN_VALUE) };
}
