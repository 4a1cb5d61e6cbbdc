// Where an engine's images wait for the worker: buffers shared with the worker thread for good
// (protocol.ts says why shared). A crop takes a slot of its own when it is submitted and gives it
// back when its image settles, so sharp's output buffer dies young instead of waiting through the
// queue; a ready tensor is copied into its batch position at dispatch, while the worker is idle.
// Every instance (worker) of the model reads the one pixel buffer and has a tensor buffer of its own.
import { SLOT_KIND, type Batch, type Staging } from './protocol.ts';

/** A queued image: a ready tensor, or the slot of a crop the worker normalizes. */
export type StagedImage = { readonly tensor: Float32Array } | { readonly slot: number };

/** Bytes of one 8-bit RGB crop when the model's input is [3, crop, crop]; 0 otherwise. */
export function pixelLengthOf(imageShape: readonly number[], crop: number): number {
  const [channels, height, width] = imageShape;
  return imageShape.length === 3 && channels === 3 && height === crop && width === crop ? 3 * crop * crop : 0;
}

export class StagingBuffers {
  /** What each instance's worker holds: its own tensors, the shared pixels. */
  readonly buffers: readonly Staging[];
  /** Bytes of one crop; 0 when the model takes no crops. */
  readonly pixelLength: number;
  readonly #imageLength: number;
  readonly #pixels: Uint8Array;
  readonly #freeSlots: number[];

  /**
   * Crop slots for a full queue, the running batches and one image being refused: the batcher never
   * holds more than maxQueue queued images besides one running batch per instance.
   */
  constructor(sizes: {
    maxBatchSize: number;
    maxQueue: number;
    imageLength: number;
    pixelLength: number;
    instances: number;
  }) {
    const slots = sizes.maxQueue + sizes.instances * sizes.maxBatchSize + 1;
    this.pixelLength = sizes.pixelLength;
    this.#imageLength = sizes.imageLength;
    const pixels = new Uint8Array(new SharedArrayBuffer(slots * sizes.pixelLength));
    this.#pixels = pixels;
    this.buffers = Array.from({ length: sizes.instances }, () => ({
      tensors: new Float32Array(new SharedArrayBuffer(4 * sizes.maxBatchSize * sizes.imageLength)),
      pixels,
    }));
    this.#freeSlots = Array.from({ length: slots }, (_, i) => i);
  }

  /** Copies a crop into a free slot and returns it; undefined when every slot is held. */
  stagePixels(pixels: Uint8Array): number | undefined {
    const slot = this.#freeSlots.pop();
    if (slot !== undefined) this.#pixels.set(pixels, slot * this.pixelLength);
    return slot;
  }

  release(slot: number): void {
    this.#freeSlots.push(slot);
  }

  /**
   * Copies a batch's tensors into their positions in `instance`'s buffer and says where each image
   * is (only while that instance's worker is idle).
   */
  batch(images: readonly StagedImage[], instance: number): Batch {
    const { tensors } = this.buffers[instance] as Staging;
    const kinds = new Uint8Array(images.length);
    const slots = new Int32Array(images.length);
    images.forEach((image, i) => {
      if ('slot' in image) {
        kinds[i] = SLOT_KIND.pixels;
        slots[i] = image.slot;
      } else tensors.set(image.tensor, i * this.#imageLength);
    });
    return { size: images.length, kinds, slots };
  }
}
