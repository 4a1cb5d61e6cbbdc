// The queue deadline of a gRPC call: its own deadline, or Triton's `timeout` parameter when
// shorter, capped by MAX_REQUEST_TIMEOUT_MS as REST's header is; REQUEST_TIMEOUT_MS without either.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/server/config.ts';
import { deadlineOf } from '../../../src/server/grpc/inference-service.ts';

const config = loadConfig({ REQUEST_TIMEOUT_MS: '2000', MAX_REQUEST_TIMEOUT_MS: '5000' });
const callWith = (deadline: Date | number) => ({ getDeadline: () => deadline }) as Parameters<typeof deadlineOf>[0];

describe('deadlineOf', () => {
  it('uses REQUEST_TIMEOUT_MS for a call without a deadline', () => {
    expect(deadlineOf(callWith(Infinity), config, undefined)).toBe(2000);
  });

  it("takes the call's deadline, capped by MAX_REQUEST_TIMEOUT_MS", () => {
    const inOneSecond = deadlineOf(callWith(new Date(Date.now() + 1000)), config, undefined);
    expect(inOneSecond).toBeGreaterThan(900);
    expect(inOneSecond).toBeLessThanOrEqual(1000);
    expect(deadlineOf(callWith(new Date(Date.now() + 600_000)), config, undefined)).toBe(5000);
  });

  it('takes the timeout parameter (microseconds) when it is shorter, and alone without a deadline', () => {
    expect(deadlineOf(callWith(new Date(Date.now() + 3000)), config, 250_000)).toBe(250);
    expect(deadlineOf(callWith(Infinity), config, 4_000_000)).toBe(4000);
    expect(deadlineOf(callWith(Infinity), config, 60_000_000)).toBe(5000);
  });

  it('gives a deadline already past 1 ms, so the queue refuses it at once', () => {
    expect(deadlineOf(callWith(new Date(Date.now() - 10)), config, undefined)).toBe(1);
  });
});
