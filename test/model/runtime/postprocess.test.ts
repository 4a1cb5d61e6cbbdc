import { describe, expect, it } from 'vitest';
import { topK } from '../../../src/model/runtime/postprocess.ts';

const labels = ['cat', 'dog', 'fox', 'owl', 'yak'];

describe('topK', () => {
  it('returns the k highest scores in descending order with index and label', () => {
    const probabilities = Float32Array.from([0.1, 0.05, 0.5, 0.25, 0.1]);
    expect(topK(probabilities, 3, labels)).toEqual([
      { index: 2, label: 'fox', score: probabilities[2] },
      { index: 3, label: 'owl', score: probabilities[3] },
      { index: 0, label: 'cat', score: probabilities[0] },
    ]);
  });

  it('keeps the lower class index first among equal scores', () => {
    expect(topK([0.2, 0.3, 0.2, 0.3, 0], 4, labels).map((p) => p.index)).toEqual([1, 3, 0, 2]);
  });

  it('returns every class, sorted, when k exceeds the class count', () => {
    expect(topK([0.3, 0.1, 0.2, 0.4, 0], 10, labels).map((p) => p.label)).toEqual(['owl', 'cat', 'fox', 'dog', 'yak']);
  });

  it('ranks NaN scores last', () => {
    expect(topK([Number.NaN, 0.1, 0.2, Number.NaN, 0.05], 5, labels).map((p) => p.index)).toEqual([2, 1, 4, 0, 3]);
  });

  it('rejects a k that is not a positive integer', () => {
    expect(() => topK([0.5, 0.5], 0, ['a', 'b'])).toThrow(
      new TypeError('Expected `k` to be an integer >= 1, got `0` (number)'),
    );
    expect(() => topK([0.5, 0.5], 1.5, ['a', 'b'])).toThrow(TypeError);
  });

  it('rejects labels that do not match the scores one to one', () => {
    expect(() => topK([0.5, 0.5], 1, ['a'])).toThrow(
      new RangeError('Expected one label per class: 2 scores, 1 labels'),
    );
  });
});
