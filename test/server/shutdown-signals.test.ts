// Which shutdown signal drains, which is the first one relayed, and which forces: on an injected
// clock and emitter, so the window is exact.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { RELAYED_SIGNAL_WINDOW_MS, handleShutdownSignals } from '../../src/server/shutdown-signals.ts';

function harness() {
  const emitter = new EventEmitter();
  let now = 0;
  const calls: string[] = [];
  const stop = handleShutdownSignals(
    {
      drain: (signal) => calls.push(`drain ${signal}`),
      relayed: (signal, ms) => calls.push(`relayed ${signal} +${ms}`),
      force: (signal, ms) => calls.push(`force ${signal} +${ms}`),
    },
    { now: () => now, emitter: emitter as unknown as NodeJS.Process },
  );
  const at = (ms: number, signal: 'SIGINT' | 'SIGTERM') => {
    now = ms;
    emitter.emit(signal, signal);
  };
  return { at, calls, stop, emitter };
}

describe('handleShutdownSignals', () => {
  it('drains on the first signal and ignores a second one inside the window (one Ctrl-C relayed)', () => {
    const { at, calls } = harness();
    at(1000, 'SIGINT');
    at(1033, 'SIGINT');
    at(1000 + RELAYED_SIGNAL_WINDOW_MS - 1, 'SIGTERM');
    expect(calls).toEqual(['drain SIGINT', 'relayed SIGINT +33', `relayed SIGTERM +${RELAYED_SIGNAL_WINDOW_MS - 1}`]);
  });

  it('forces on a signal from the end of the window on (a person asking again)', () => {
    const { at, calls } = harness();
    at(0, 'SIGTERM');
    at(RELAYED_SIGNAL_WINDOW_MS, 'SIGINT');
    expect(calls).toEqual(['drain SIGTERM', `force SIGINT +${RELAYED_SIGNAL_WINDOW_MS}`]);
  });

  it('stops listening when asked', () => {
    const { at, calls, stop, emitter } = harness();
    stop();
    expect(emitter.listenerCount('SIGINT') + emitter.listenerCount('SIGTERM')).toBe(0);
    at(0, 'SIGINT');
    expect(calls).toEqual([]);
  });
});
