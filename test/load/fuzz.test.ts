// The fuzzer's reproducibility and judgement: case i of seed s is the same bytes every time (so a
// finding can be replayed from its number), different cases differ, and the judge flags exactly
// the answers the issue forbids.
import { describe, expect, it } from 'vitest';
import { SEED_KINDS, makeCase, prng, type Corpus } from '../../load/fuzz/mutate.ts';
import { buildCorpus, judge } from '../../load/fuzz/requests.ts';

let corpus: Corpus | undefined;
async function getCorpus(): Promise<Corpus> {
  corpus ??= await buildCorpus('resnet50');
  return corpus;
}

describe('makeCase', () => {
  it('makes the same bytes, headers and mutations for the same seed and index', async () => {
    const c = await getCorpus();
    for (const index of [0, 7, 198, 1999]) {
      const a = makeCase(c, 1, index);
      const b = makeCase(c, 1, index);
      expect(b.body.equals(a.body)).toBe(true);
      expect(b.headers).toEqual(a.headers);
      expect(b.mutations).toEqual(a.mutations);
    }
  });

  it('cycles through every kind of body and mutates each away from the valid one', async () => {
    const c = await getCorpus();
    const cases = Array.from({ length: 60 }, (_, i) => makeCase(c, 3, i));
    expect(new Set(cases.map((x) => x.kind))).toEqual(new Set(SEED_KINDS));
    for (const x of cases) {
      expect(x.mutations.length).toBeGreaterThanOrEqual(1);
      const valid = c[x.kind];
      const same = x.body.equals(valid.body) && JSON.stringify(x.headers) === JSON.stringify(valid.headers);
      // A mutation may by chance write the byte that was there; most do not.
      if (same)
        expect(
          x.mutations.some((m) => m.startsWith('set') || m.startsWith('JPEG size') || m.startsWith('PNG size')),
        ).toBe(true);
    }
    expect(cases.filter((x) => !x.body.equals(c[x.kind].body)).length).toBeGreaterThan(50);
  });

  it('gives other cases for another seed', async () => {
    const c = await getCorpus();
    const differ = [0, 1, 2, 3, 4, 5].filter((i) => !makeCase(c, 1, i).body.equals(makeCase(c, 2, i).body));
    expect(differ.length).toBeGreaterThanOrEqual(5);
  });

  it('draws the same numbers from the same prng seed', () => {
    const a = prng(42);
    const b = prng(42);
    const drawn = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(drawn);
    for (const x of drawn) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('judge', () => {
  it('passes registry errors with JSON bodies and 503 QUEUE_FULL', () => {
    expect(judge(400, 'IMAGE_UNDECODABLE', '{"error":{}}')).toBeUndefined();
    expect(judge(200, undefined, '{"results":[]}')).toBeUndefined();
    expect(judge(503, 'QUEUE_FULL', '{"error":{}}')).toBeUndefined();
  });

  it('flags 500s, a dead worker, errors without a code and bodies that are not JSON', () => {
    expect(judge(500, 'INTERNAL', '{}')).toBe('500 INTERNAL');
    expect(judge(503, 'WORKER_FAILED', '{}')).toBe('503 WORKER_FAILED');
    expect(judge(400, undefined, '{}')).toBe('400 without a registry code');
    expect(judge(200, undefined, '<html>')).toBe('200 with a body that is not JSON');
  });
});
