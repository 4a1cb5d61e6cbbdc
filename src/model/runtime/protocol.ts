// Messages between the engine (main thread) and the worker thread that owns the onnxruntime
// session. Tensors travel as Float32Arrays whose ArrayBuffers are in the transfer list: moved, not
// copied (a batch of 8 images is 4.8 MB).
import type { InferenceSession } from 'onnxruntime-node';

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
}

export interface SelfCheck {
  readonly model: string;
  readonly precision: string;
  readonly logits: readonly number[];
  /** Largest allowed max|diff| / max|reference logit|. */
  readonly tolerance: number;
}

export type ToWorker =
  | { readonly type: 'run'; readonly id: number; readonly size: number; readonly input: Float32Array }
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
      /** The batch's input, transferred back so the main thread can fill it again. */
      readonly input: Float32Array;
    }
  | { readonly type: 'runFailed'; readonly id: number; readonly message: string };
