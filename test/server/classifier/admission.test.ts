import { describe, expect, it } from 'vitest';
import { Admission, admissionLimit } from '../../../src/server/classifier/admission.ts';

describe('Admission', () => {
  it('admits up to its limit, refuses beyond it, and admits again after a release', () => {
    const admission = new Admission(2);
    expect([admission.tryAdmit(), admission.tryAdmit(), admission.tryAdmit()]).toEqual([true, true, false]);
    expect(admission.full).toBe(true);
    expect(admission.inFlight).toBe(2);
    admission.release();
    expect(admission.full).toBe(false);
    expect(admission.tryAdmit()).toBe(true);
  });

  it('never counts below zero', () => {
    const admission = new Admission(1);
    admission.release();
    expect(admission.inFlight).toBe(0);
    expect(admission.tryAdmit()).toBe(true);
    expect(admission.tryAdmit()).toBe(false);
  });

  it('holds a full queue plus one batch, and refuses nonsense limits', () => {
    expect(admissionLimit({ maxQueue: 32, maxBatchSize: 8, instances: 1 })).toBe(40);
    expect(admissionLimit({ maxQueue: 32, maxBatchSize: 8, instances: 2 })).toBe(48);
    expect(() => new Admission(0)).toThrow(RangeError);
    expect(() => new Admission(1.5)).toThrow(RangeError);
  });
});

describe('Admission: the line of requests waiting for room', () => {
  const later = (ms: number) => performance.now() + ms;
  const settled = async <T>(p: Promise<T>): Promise<T | 'pending'> =>
    Promise.race([p, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 20))]);

  it('wakes one waiter per release, first come first served', async () => {
    const admission = new Admission(1);
    admission.tryAdmit();
    const woken: string[] = [];
    const hasRoom = () => !admission.full;
    const a = admission.waitForRoom(hasRoom, later(5000)).then((ok) => woken.push(`a:${ok}`));
    const b = admission.waitForRoom(hasRoom, later(5000)).then((ok) => woken.push(`b:${ok}`));
    expect(admission.waiting).toBe(2);
    admission.release();
    await settled(a);
    expect(woken).toEqual(['a:true']);
    expect(admission.waiting).toBe(1);
    admission.tryAdmit(); // a takes its place
    admission.release();
    await b;
    expect(woken).toEqual(['a:true', 'b:true']);
  });

  it('keeps the head in line while it finds no room, and lets a request that finds room wake it', async () => {
    const admission = new Admission(4);
    let room = false;
    const a = admission.waitForRoom(() => room, later(5000));
    admission.release();
    expect(await settled(a)).toBe('pending');
    expect(admission.waiting).toBe(1);
    room = true;
    admission.wake();
    expect(await a).toBe(true);
  });

  it('wakes up to a count of waiters in order, stopping at the first that finds no room', async () => {
    const admission = new Admission(1);
    let room = 2;
    const take = () => (room > 0 ? (room--, true) : false);
    const waits = [1, 2, 3].map(() => admission.waitForRoom(take, later(5000)));
    admission.wake(3);
    expect(await Promise.all(waits.slice(0, 2))).toEqual([true, true]);
    expect(await settled(waits[2]!)).toBe('pending');
    expect(admission.waiting).toBe(1);
    room = 1;
    admission.wake(5);
    expect(await waits[2]).toBe(true);
  });

  it('ends a wait at its time with a last look for room, and on abort', async () => {
    const admission = new Admission(1);
    admission.tryAdmit();
    const t0 = performance.now();
    expect(await admission.waitForRoom(() => !admission.full, later(60))).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    let room = false;
    const looked = admission.waitForRoom(() => room, later(40));
    room = true;
    expect(await looked).toBe(true);

    const controller = new AbortController();
    const aborted = admission.waitForRoom(() => !admission.full, later(5000), controller.signal);
    const behind = admission.waitForRoom(() => !admission.full, later(5000));
    controller.abort();
    expect(await aborted).toBe(false);
    admission.release();
    expect(await behind).toBe(true);
    expect(admission.waiting).toBe(0);
  });

  it('closes the line: every waiter and every later one is woken without room', async () => {
    const admission = new Admission(1);
    admission.tryAdmit();
    const waits = [1, 2].map(() => admission.waitForRoom(() => true, later(5000)));
    admission.closeLine();
    expect(await Promise.all(waits)).toEqual([false, false]);
    expect(await admission.waitForRoom(() => true, later(5000))).toBe(false);
  });
});
