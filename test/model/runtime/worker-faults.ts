// Faults on cue in the inference worker, for tests of a worker dying: an engine (or the app, through
// AppDeps.workerModule) started with `faults.workerModule` runs faulty-worker.ts, the real worker
// with a BroadcastChannel beside it, and the test arms it here. The production worker knows nothing
// of this. Each WorkerFaults has its own channel, so it reaches only the workers of its engine.
import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';

/**
 * Sent to the worker: exit with `exitCode` at once, or after computing the next batch, before
 * answering. With `claim`, only the first worker to take it (an atomic 0 -> 1) acts: one instance of several.
 */
export interface FaultRequest {
  readonly fault: 'exitNow' | 'exitAfterNextBatch';
  readonly exitCode: number;
  readonly id: number;
  readonly claim?: SharedArrayBuffer;
}

export interface FaultTarget {
  /** Only one of the engine's workers takes the fault (whichever claims it first); else all do. */
  readonly oneWorker?: boolean;
}

/** The worker's answer once a fault is armed. */
export interface FaultArmed {
  readonly armed: number;
}

export class WorkerFaults {
  /** The worker entry module to start the engine with (EngineOptions.workerModule). */
  readonly workerModule: URL;
  readonly #channel: BroadcastChannel;
  #nextId = 1;

  constructor() {
    const name = `worker-faults-${randomUUID()}`;
    this.workerModule = new URL(`./faulty-worker.ts?channel=${name}`, import.meta.url);
    this.#channel = new BroadcastChannel(name);
    this.#channel.unref();
  }

  /** The running worker computes its next batch, then exits with `exitCode` instead of answering; resolves once armed. */
  exitAfterNextBatch(exitCode: number, target: FaultTarget = {}): Promise<void> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const onMessage = (event: Event) => {
        if (((event as MessageEvent).data as FaultArmed).armed !== id) return;
        this.#channel.removeEventListener('message', onMessage);
        resolve();
      };
      this.#channel.addEventListener('message', onMessage);
      this.#send({ fault: 'exitAfterNextBatch', exitCode, id, ...claimFor(target) });
    });
  }

  /** The running worker exits with `exitCode` at once, as a crash would (await the engine's workerRestart). */
  exitNow(exitCode: number, target: FaultTarget = {}): void {
    this.#send({ fault: 'exitNow', exitCode, id: this.#nextId++, ...claimFor(target) });
  }

  close(): void {
    this.#channel.close();
  }

  #send(request: FaultRequest): void {
    this.#channel.postMessage(request);
  }
}

function claimFor(target: FaultTarget): { claim?: SharedArrayBuffer } {
  return target.oneWorker === true ? { claim: new SharedArrayBuffer(4) } : {};
}
