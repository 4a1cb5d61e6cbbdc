// Top-k over the model's `probabilities` output (softmax is in the graph, as in the original
// TensorFlow code's `predictions`), with the manifest's labels: the shape of transformers.js's
// image-classification result plus the class index.
import { assertInteger } from './validate.ts';

export interface Prediction {
  readonly index: number;
  readonly label: string;
  readonly score: number;
}

/** The k highest scores, descending; ties keep the lower class index first; NaN ranks last. */
export function topK(probabilities: ArrayLike<number>, k: number, labels: readonly string[]): Prediction[] {
  assertInteger('k', k, 1);
  if (labels.length !== probabilities.length) {
    throw new RangeError(`Expected one label per class: ${probabilities.length} scores, ${labels.length} labels`);
  }
  const best: { index: number; rank: number }[] = [];
  const limit = Math.min(k, probabilities.length);
  for (let index = 0; index < probabilities.length; index++) {
    const score = probabilities[index] as number;
    const rank = Number.isNaN(score) ? Number.NEGATIVE_INFINITY : score;
    if (best.length === limit && rank <= (best[limit - 1] as { rank: number }).rank) continue;
    let at = best.length;
    while (at > 0 && (best[at - 1] as { rank: number }).rank < rank) at--;
    best.splice(at, 0, { index, rank });
    if (best.length > limit) best.pop();
  }
  return best.map(({ index }) => ({ index, label: labels[index] as string, score: probabilities[index] as number }));
}
