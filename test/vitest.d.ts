// Values test/global-setup.ts provides to every test file via inject().
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Absolute path of the tiny ResNet (depth 50, width 0.125, 10 classes, seed 1) .onnx file. */
    tinyModelPath: string;
    /** Its sidecar manifest (.json). */
    tinyManifestPath: string;
    /** A tiny ResNet-18 (width 0.125, 10 classes, seed 2) .onnx file; its manifest is beside it. */
    tinyResnet18Path: string;
    /** The same weights as int8 (QDQ, calibrated on the built-in set models/calibration). */
    tinyInt8ModelPath: string;
  }
}
