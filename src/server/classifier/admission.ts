// Admission control for images. The engine's queue (MAX_QUEUE) only sees an image after it has
// been received, parsed and decoded, so under overload every request that was going to be
// refused still cost a JPEG decode first: at 8x the saturating connections, refused requests
// took most of the CPU and throughput fell to a quarter of its peak (docs/performance.md, "Overload"). This
// counts the images the server holds (preprocessing, queued or in the running batch) and refuses
// new work with QUEUE_FULL before it costs anything: per image before decoding, and per request
// in onRequest, before the body is read. Requests that find it full wait in line (first come,
// first served): a release, or room in the engine's queue, wakes the head of the line.
export class Admission {
  readonly limit: number;
  #inFlight = 0;
  /** Waiters in arrival order; each is called when room may have appeared, and says whether it took it. */
  readonly #line: (() => boolean)[] = [];
  /** The line stops for good (retire, drain): every waiter and every later one is woken without room. */
  #closed = false;

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

  /** Requests waiting in line for room. */
  get waiting(): number {
    return this.#line.length;
  }

  /** Takes a place for one image; false when the server already holds `limit` images. */
  tryAdmit(): boolean {
    if (this.full) return false;
    this.#inFlight++;
    return true;
  }

  release(): void {
    if (this.#inFlight > 0) this.#inFlight--;
    // One place freed, one waiter woken: a woken request takes its place only once its body is read.
    this.wake();
  }

  /**
   * Lets up to `count` waiters at the head of the line check for room, in order, stopping at the
   * first that finds none: a release wakes one, so does a request that finds room but a line, and
   * the engine's queue shrinking wakes as many as it has room for (tensor rows hold no places here).
   */
  wake(count = 1): void {
    for (let i = 0; i < count; i++) {
      const head = this.#line[0];
      if (head === undefined || !head()) return;
      this.#line.shift();
    }
  }

  /**
   * Waits in line until a release finds `hasRoom()` true with this request at the head, or
   * `hasRoom()` holds when `untilMs` (a performance.now() time) passes (true); false when it does
   * not, the signal aborts or the line closes. Room can also appear without a release (tensor rows
   * leave the engine's queue without holding places), hence the last look.
   */
  waitForRoom(hasRoom: () => boolean, untilMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const leave = (admitted: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(admitted);
      };
      const waiter = () => {
        if (!this.#closed && !hasRoom()) return false;
        leave(!this.#closed);
        return true;
      };
      const drop = (lastLook: boolean) => {
        const at = this.#line.indexOf(waiter);
        if (at >= 0) this.#line.splice(at, 1);
        leave(lastLook && !this.#closed && hasRoom());
      };
      const onAbort = () => drop(false);
      const timer = setTimeout(() => drop(true), Math.max(0, untilMs - performance.now()));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#line.push(waiter);
    });
  }

  /** Wakes every waiter without room, now and for good (the version is retiring, or the server draining). */
  closeLine(): void {
    this.#closed = true;
    for (const waiter of this.#line.splice(0)) waiter();
  }
}

/** Images the server holds at most: a full queue plus the batch each instance computes. */
export function admissionLimit(config: {
  readonly maxQueue: number;
  readonly maxBatchSize: number;
  readonly instances: number;
}): number {
  return config.maxQueue + config.instances * config.maxBatchSize;
}
