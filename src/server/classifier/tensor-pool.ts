// Reusable per-image input tensors. Each image is preprocessed into a Float32Array of
// 3 x crop x crop (600 KB at 224); allocating one per image made ArrayBuffer churn, and the
// garbage collection it drives, the largest cost of the glue after decoding. A tensor is
// borrowed for an image's whole trip (preprocess -> queue -> copied into a batch) and given
// back when its inference settles; at most `maxFree` idle tensors are kept.
export class TensorPool {
  readonly #free: Float32Array[] = [];
  readonly length: number;
  readonly maxFree: number;

  constructor(length: number, maxFree: number) {
    if (!Number.isInteger(length) || length < 1) throw new RangeError(`Expected a tensor length >= 1, got ${length}`);
    if (!Number.isInteger(maxFree) || maxFree < 0) throw new RangeError(`Expected maxFree >= 0, got ${maxFree}`);
    this.length = length;
    this.maxFree = maxFree;
  }

  get idle(): number {
    return this.#free.length;
  }

  acquire(): Float32Array {
    return this.#free.pop() ?? new Float32Array(this.length);
  }

  /** Gives a tensor back; detached or foreign-sized arrays are dropped. */
  release(tensor: Float32Array): void {
    if (tensor.length !== this.length || this.#free.length >= this.maxFree || this.#free.includes(tensor)) return;
    this.#free.push(tensor);
  }
}
