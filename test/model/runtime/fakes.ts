// Deterministic stand-ins for the batcher's clock and runner (the real ones are exercised in
// engine.test.ts against the tiny model).
import type { BatchRunner, Clock } from '../../../src/model/runtime/batcher.ts';

interface Timer {
  readonly at: number;
  readonly id: number;
  readonly callback: () => void;
}

/** A clock that only moves when advance() is called; timers fire in due order. */
export class FakeClock implements Clock {
  #now = 0;
  #nextId = 1;
  readonly #timers = new Map<number, Timer>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), id, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = [...this.#timers.values()]
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.#timers.delete(due.id);
      this.#now = due.at;
      due.callback();
    }
    this.#now = target;
  }
}

interface Call<TIn, TOut> {
  readonly inputs: readonly TIn[];
  readonly resolve: (results: readonly TOut[]) => void;
  readonly reject: (error: unknown) => void;
}

/** A runner whose batches stay pending until the test completes or fails them. */
export class ManualRunner<TIn, TOut> {
  readonly calls: Call<TIn, TOut>[] = [];
  readonly run: BatchRunner<TIn, TOut> = (inputs) =>
    new Promise((resolve, reject) => this.calls.push({ inputs: [...inputs], resolve, reject }));

  get batches(): (readonly TIn[])[] {
    return this.calls.map((call) => call.inputs);
  }

  call(index: number): Call<TIn, TOut> {
    const call = this.calls[index];
    if (call === undefined) throw new Error(`No batch #${index}; ${this.calls.length} so far`);
    return call;
  }

  complete(index: number, compute: (input: TIn) => TOut): void {
    const call = this.call(index);
    call.resolve(call.inputs.map(compute));
  }

  /** Completes batches `from`..`to` (inclusive) one after another, as each gets dispatched. */
  async completeInTurn(from: number, to: number, compute: (input: TIn) => TOut): Promise<void> {
    for (let i = from; i <= to; i++) {
      this.complete(i, compute);
      await settle();
    }
  }
}

/** Let pending promise callbacks run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
