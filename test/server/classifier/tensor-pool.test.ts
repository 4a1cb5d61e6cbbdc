import { describe, expect, it } from 'vitest';
import { TensorPool } from '../../../src/server/classifier/tensor-pool.ts';

describe('TensorPool', () => {
  it('hands a released tensor out again instead of allocating', () => {
    const pool = new TensorPool(12, 2);
    const a = pool.acquire();
    expect(a).toHaveLength(12);
    pool.release(a);
    expect(pool.idle).toBe(1);
    expect(pool.acquire()).toBe(a);
    expect(pool.acquire()).not.toBe(a);
  });

  it('keeps at most maxFree idle tensors, never the same one twice, and drops foreign sizes', () => {
    const pool = new TensorPool(4, 2);
    const [a, b, c] = [pool.acquire(), pool.acquire(), pool.acquire()];
    pool.release(a);
    pool.release(a);
    expect(pool.idle).toBe(1);
    pool.release(b);
    pool.release(c);
    expect(pool.idle).toBe(2);
    pool.release(new Float32Array(5));
    const detached = pool.acquire();
    structuredClone(detached.buffer, { transfer: [detached.buffer as ArrayBuffer] });
    pool.release(detached);
    expect(pool.idle).toBe(1);
  });

  it('refuses nonsense sizes', () => {
    expect(() => new TensorPool(0, 1)).toThrow(RangeError);
    expect(() => new TensorPool(4, -1)).toThrow(RangeError);
  });
});
