// Messages between the engine (main thread) and the worker thread that owns the onnxruntime
// session. A batch's images are staged in two SharedArrayBuffers that both threads hold for good:
// ready tensors (float32, by batch position, written while the worker is idle) and 8-bit RGB crops
// (one slot per queued or running image, held until it settles). The worker copies the tensors and
// normalizes the crops into the model's input, its own buffer (onnxruntime refuses shared memory:
// "Invalid argument"). Moving 6 MB of buffers per
// batch to the worker and back instead (transfer lists) counted as fresh external memory in both
// isolates each time, which started a major GC in each about every ten batches. The outputs come
// back transferred (8 KB per image).
import type { InferenceSession } from 'onnxruntime-node';
import type { PreprocessPreset } from '../../preprocess/preset.ts';

/** Passed as workerData when the worker starts. */
export interface WorkerInit {
  readonly modelPath: string;
  readonly sessionOptions: InferenceSession.SessionOptions;
  readonly inputName: string;
  readonly logitsName: string;
  readonly probabilitiesName: string;
  /** One image's shape, without the batch dimension: [3, 224, 224]. */
  readonly imageShape: readonly number[];
  /** Labels in the manifest: the model must give this many logits per image. */
  readonly classes: number;
  /** Every batch size that can occur, run once with zeros before the worker reports ready. */
  readonly warmupBatchSizes: readonly number[];
  /** The manifest's reference logits, recomputed after warm-up (src/model/self-check.ts). */
  readonly selfCheck: SelfCheck | undefined;
  /** How 8-bit RGB crops become the input: the manifest's preprocessing (mean, std, crop). */
  readonly preprocess: PreprocessPreset;
  readonly staging: Staging;
}

/** The staging buffers, over SharedArrayBuffers. */
export interface Staging {
  /** [maxBatchSize, ...imageShape] float32: image i of a batch at position i. */
  readonly tensors: Float32Array;
  /** [slots, crop, crop, 3] (HWC, RGB): one slot per queued or running crop. */
  readonly pixels: Uint8Array;
}

/** Where image i of a batch is staged. */
export const SLOT_KIND = { tensor: 0, pixels: 1 } as const;

/** One batch: its size; per image, its kind (SLOT_KIND) and, for a crop, its slot in pixels. */
export interface Batch {
  readonly size: number;
  readonly kinds: Uint8Array;
  readonly slots: Int32Array;
}

export interface SelfCheck {
  readonly model: string;
  readonly precision: string;
  readonly logits: readonly number[];
  /** Largest allowed max|diff| / max|reference logit|. */
  readonly tolerance: number;
}

export type ToWorker = ({ readonly type: 'run'; readonly id: number } & Batch) | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'ready'; readonly warmupMs: number }
  | { readonly type: 'initFailed'; readonly message: string }
  | {
      readonly type: 'result';
      readonly id: number;
      readonly logits: Float32Array;
      readonly probabilities: Float32Array;
      /** Time in the worker for this batch: writing its input, then session.run(). */
      readonly computeMs: number;
      /** Of which writing the input: normalizing crops, copying ready tensors. */
      readonly inputMs: number;
    }
  | { readonly type: 'runFailed'; readonly id: number; readonly message: string };
