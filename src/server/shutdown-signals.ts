// Which SIGINT or SIGTERM starts the drain, which one is the same event arriving twice, and which
// one forces an exit. A terminal's Ctrl-C goes to every process of the foreground group (npm, sh,
// node), and npm also forwards the SIGINT it gets to its child, so one keypress can reach the
// service twice, a few milliseconds apart. A second signal inside RELAYED_SIGNAL_WINDOW_MS of the
// first is taken for that copy and ignored; one after it is a person asking again, and forces.
export const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
export type ShutdownSignal = (typeof SHUTDOWN_SIGNALS)[number];

/**
 * Measured with Ctrl-C sent to the group of `npm start` (AMD EPYC Zen 3, 2 cores, load 3-4): under
 * the former `tsx src/server/main.ts` script, tsx relayed a copy 31-35 ms after the first in 5 of 24
 * tries; under `node dist/server/main.js` (sh waits for node, npm's copy reaches sh) none did. Half a
 * second is 14 times the largest gap, and less than a person takes to press Ctrl-C again.
 */
export const RELAYED_SIGNAL_WINDOW_MS = 500;

export interface SignalHandlers {
  /** The first signal: start the graceful drain. */
  drain(signal: ShutdownSignal): void;
  /** A signal within the window: the first one arriving again. */
  relayed(signal: ShutdownSignal, msSinceFirst: number): void;
  /** A signal after the window: exit without waiting for the drain. */
  force(signal: ShutdownSignal, msSinceFirst: number): void;
}

export interface SignalOptions {
  readonly windowMs?: number;
  /** Monotonic milliseconds (injectable for tests). */
  readonly now?: () => number;
  /** Where the signals are heard (process, or an EventEmitter in tests). */
  readonly emitter?: Pick<NodeJS.Process, 'on' | 'off'>;
}

/** Listens for SIGINT and SIGTERM until the returned function is called. */
export function handleShutdownSignals(handlers: SignalHandlers, options: SignalOptions = {}): () => void {
  const { windowMs = RELAYED_SIGNAL_WINDOW_MS, now = () => performance.now(), emitter = process } = options;
  let firstAt: number | undefined;
  const onSignal = (signal: ShutdownSignal): void => {
    const at = now();
    if (firstAt === undefined) {
      firstAt = at;
      handlers.drain(signal);
      return;
    }
    const since = Math.round(at - firstAt);
    if (since < windowMs) handlers.relayed(signal, since);
    else handlers.force(signal, since);
  };
  for (const signal of SHUTDOWN_SIGNALS) emitter.on(signal, onSignal);
  return () => {
    for (const signal of SHUTDOWN_SIGNALS) emitter.off(signal, onSignal);
  };
}
