// Messages between the engine (main thread) and the worker thread that owns the onnxruntime
// session. A batch travels as two buffers whose ArrayBuffers are in the transfer list (moved, not
// copied), and come back with the results so the next batch fills the same memory: the model's
// input (float32, 4.8 MB for 8 images) and 8-bit RGB crops (1.2 MB for 8) that the worker
// normalizes into their slots of the input before the run.
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
}

/** Which buffer holds slot i of a batch. */
export const SLOT_KIND = { tensor: 0, pixels: 1 } as const;

/** One batch: slot i is input[i] (a ready tensor) or pixels[i] (a crop the worker normalizes), as kinds[i] says. */
export interface Batch {
  readonly size: number;
  /** Room for the largest batch of float32 input, [capacity, ...imageShape]. */
  readonly input: Float32Array;
  /** Room for the largest batch of crops, [capacity, crop, crop, 3] (HWC, RGB). */
  readonly pixels: Uint8Array;
  readonly kinds: Uint8Array;
}

export interface SelfCheck {
  readonly model: string;
  readonly precision: string;
  readonly logits: readonly number[];
  /** Largest allowed max|diff| / max|reference logit|. */
  readonly tolerance: number;
}

export type ToWorker =
  | ({ readonly type: 'run'; readonly id: number } & Batch)
  | { readonly type: 'close' }
  // Test hook: exit with this code after computing the next batch, before answering.
  | { readonly type: 'exitDuringNextRun'; readonly exitCode: number };

export type FromWorker =
  | { readonly type: 'ready'; readonly warmupMs: number }
  | { readonly type: 'initFailed'; readonly message: string }
  | {
      readonly type: 'result';
      readonly id: number;
      readonly logits: Float32Array;
      readonly probabilities: Float32Array;
      readonly computeMs: number;
      /** The batch's buffers, transferred back so the main thread can fill them again. */
      readonly input: Float32Array;
      readonly pixels: Uint8Array;
    }
  | { readonly type: 'runFailed'; readonly id: number; readonly message: string };
