// How close an int8 model's logits are to the FP32 logits of the same weights, per image: the
// measures of the model card's fidelity table and of the tests that bound it.

export interface Fidelity {
  /** Cosine similarity of the two logit vectors. */
  readonly cosine: number;
  /** max |int8 - fp32| / max |fp32|. */
  readonly relativeMaxDiff: number;
  readonly top1Agrees: boolean;
  /** |top-5(int8) ∩ top-5(fp32)|, 0 to 5. */
  readonly top5Overlap: number;
}

/** Indices of the k largest values, largest first. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => (values[b] as number) - (values[a] as number) || a - b)
    .slice(0, k);
}

export function fidelity(fp32: ArrayLike<number>, int8: ArrayLike<number>): Fidelity {
  let dot = 0;
  let a2 = 0;
  let b2 = 0;
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < fp32.length; i++) {
    const a = fp32[i] as number;
    const b = int8[i] as number;
    dot += a * b;
    a2 += a * a;
    b2 += b * b;
    maxDiff = Math.max(maxDiff, Math.abs(a - b));
    maxAbs = Math.max(maxAbs, Math.abs(a));
  }
  const k = Math.min(5, fp32.length);
  const top5 = new Set(topK(fp32, k));
  return {
    cosine: dot / Math.sqrt(a2 * b2),
    relativeMaxDiff: maxDiff / maxAbs,
    top1Agrees: topK(fp32, 1)[0] === topK(int8, 1)[0],
    top5Overlap: topK(int8, k).filter((i) => top5.has(i)).length,
  };
}
