// One batch computes at a time across the engines that share a gate. Each engine's worker thread
// owns an onnxruntime session with INTRA_OP_THREADS threads; two engines computing at once on the
// same cores run twice as many threads as there are cores, and each batch takes longer than the
// two would one after the other (docs/model-repository.md, "Threads": measured). Waiters are served in
// arrival order, so engines saturated at once take turns batch by batch.
export class ComputeGate {
  #busy = false;
  readonly #waiting: (() => void)[] = [];

  /** Engines waiting for their turn (not counting the one computing). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `work` once no other work of this gate is running. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#busy) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#busy = true;
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#busy = false;
      else next();
    }
  }
}
