// The one median of the benchmark scripts: the middle value, or the mean of the two middle values.
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** An interval the median of the population lies in, from the sample alone (no assumed distribution). */
export interface MedianInterval {
  readonly low: number;
  readonly high: number;
  /** Chance that an interval drawn this way holds the median. */
  readonly coverage: number;
}

/**
 * Order statistics k and n + 1 - k of the sorted values, with the largest k whose coverage is at
 * least `confidence`: each value falls below the median with chance 1/2, so the interval misses
 * it when fewer than k values lie on one side of it, 2 P(Binomial(n, 1/2) < k). Four rounds give
 * only their full range at 87.5%; eight give the 2nd to the 7th value at 93%. Undefined without
 * values.
 */
export function medianInterval(values: readonly number[], confidence = 0.9): MedianInterval | undefined {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return undefined;
  const coverageOf = (k: number) => {
    let below = 0; // P(Binomial(n, 1/2) <= k - 1)
    let term = 0.5 ** n; // P(Binomial = 0)
    for (let i = 0; i < k; i++) {
      below += term;
      term = (term * (n - i)) / (i + 1);
    }
    return 1 - 2 * below;
  };
  let k = 1;
  while (2 * (k + 1) <= n + 1 && coverageOf(k + 1) >= confidence) k++;
  return { low: sorted[k - 1] as number, high: sorted[n - k] as number, coverage: coverageOf(k) };
}
