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
    expect(admissionLimit({ maxQueue: 32, maxBatchSize: 8 })).toBe(40);
    expect(() => new Admission(0)).toThrow(RangeError);
    expect(() => new Admission(1.5)).toThrow(RangeError);
  });
});
