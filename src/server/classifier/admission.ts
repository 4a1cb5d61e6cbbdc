// Admission control for images. The engine's queue (MAX_QUEUE) only sees an image after it has
// been received, parsed and decoded, so under overload every request that was going to be
// refused still cost a JPEG decode first: at 8x the saturating connections, refused requests
// took most of the CPU and throughput fell to a quarter of its peak (docs/performance.md, "Overload"). This
// counts the images the server holds (preprocessing, queued or in the running batch) and refuses
// new work with QUEUE_FULL before it costs anything: per image before decoding, and per request
// in onRequest, before the body is read.
export class Admission {
  readonly limit: number;
  #inFlight = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`Expected an admission limit >= 1, got ${limit}`);
    this.limit = limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get full(): boolean {
    return this.#inFlight >= this.limit;
  }

  /** Takes a place for one image; false when the server already holds `limit` images. */
  tryAdmit(): boolean {
    if (this.full) return false;
    this.#inFlight++;
    return true;
  }

  release(): void {
    if (this.#inFlight > 0) this.#inFlight--;
  }
}

/** Images the server holds at most: a full queue plus the batch being computed. */
export function admissionLimit(config: { readonly maxQueue: number; readonly maxBatchSize: number }): number {
  return config.maxQueue + config.maxBatchSize;
}
