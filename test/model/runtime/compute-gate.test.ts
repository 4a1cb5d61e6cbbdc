import { describe, expect, it } from 'vitest';
import { ComputeGate } from '../../../src/model/runtime/compute-gate.ts';
import { settle } from './fakes.ts';

/** A work item the test finishes by hand, recording when it started. */
function work(log: string[], name: string): { run: () => Promise<string>; finish: () => void } {
  let finish = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    run: async () => {
      log.push(`start ${name}`);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

describe('ComputeGate', () => {
  it('runs one work at a time by default, the waiters in arrival order', async () => {
    const gate = new ComputeGate();
    const log: string[] = [];
    const works = ['a', 'b', 'c'].map((name) => work(log, name));
    const results = works.map((w) => gate.run(w.run));
    await settle();
    expect(log).toEqual(['start a']);
    expect(gate.waiting).toBe(2);
    works[0]?.finish();
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    for (const w of works) w.finish();
    await expect(Promise.all(results)).resolves.toEqual(['a', 'b', 'c']);
    expect(gate.waiting).toBe(0);
  });

  it('runs up to `capacity` works at once and hands a freed place to the next waiter', async () => {
    const gate = new ComputeGate(2);
    const log: string[] = [];
    const works = ['a', 'b', 'c', 'd'].map((name) => work(log, name));
    const results = works.map((w) => gate.run(w.run));
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    works[1]?.finish();
    await settle();
    expect(log).toEqual(['start a', 'start b', 'start c']);
    expect(gate.waiting).toBe(1);
    for (const w of works) w.finish();
    await expect(Promise.all(results)).resolves.toEqual(['a', 'b', 'c', 'd']);
    // Every place came back: two new works start at once.
    const more = ['e', 'f'].map((name) => work(log, name));
    const next = more.map((w) => gate.run(w.run));
    await settle();
    expect(log.slice(-2)).toEqual(['start e', 'start f']);
    for (const w of more) w.finish();
    await Promise.all(next);
  });

  it('gives the place back when a work fails', async () => {
    const gate = new ComputeGate();
    await expect(gate.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(gate.run(async () => 'after')).resolves.toBe('after');
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const capacity of [0, 1.5, Number.NaN]) {
      expect(() => new ComputeGate(capacity)).toThrow(
        `Expected \`capacity\` to be an integer >= 1, got \`${capacity}\` (number)`,
      );
    }
  });
});
