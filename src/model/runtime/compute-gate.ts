// At most `capacity` batches compute at a time across the engines that share a gate. Each batch
// runs on one worker thread whose onnxruntime session has INTRA_OP_THREADS threads; more batches
// at once than the cores hold run more threads than there are cores, and each batch takes longer
// than they would one after the other (docs/model-repository.md, "Threads": measured). The server
// gives its gate one place per model instance (MODEL_INSTANCES). Waiters are served in arrival
// order, so engines saturated at once take turns batch by batch.
import { assertInteger } from './validate.ts';

export class ComputeGate {
  readonly capacity: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(capacity = 1) {
    assertInteger('capacity', capacity, 1);
    this.capacity = capacity;
  }

  /** Batches waiting for their turn (not counting the ones computing). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `work` once fewer than `capacity` other works of this gate are running. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    // A place is handed over directly to the next waiter, so #running only counts places taken.
    if (this.#running >= this.capacity) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#running--;
      else next();
    }
  }
}
