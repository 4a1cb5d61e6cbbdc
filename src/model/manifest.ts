// The manifest travels with every built model: as a sidecar `<model>.json` next to the `.onnx`
// file and as the ONNX metadata_props entry MANIFEST_METADATA_KEY. The runtime reads the sidecar.
import type { PreprocessPreset } from '../preprocess/preset.ts';
import type { Precision } from './quantize/quantizer.ts';
import type { ReferenceOutputs } from './self-check.ts';

export const MANIFEST_FORMAT = 'resnet-serve/manifest@1' as const;
export const MANIFEST_METADATA_KEY = 'resnet_serve.manifest' as const;

export interface TensorSpec {
  readonly name: string;
  readonly datatype: 'FP32';
  /** -1 marks the symbolic batch dimension. */
  readonly shape: readonly number[];
}

export interface ModelArchitecture {
  readonly depth: 18 | 34 | 50 | 101 | 152;
  readonly variant: 'v1' | 'v1.5';
  readonly shortcut: 'A' | 'B' | 'C';
  readonly width: number;
  readonly classes: number;
  readonly foldBatchNorm: boolean;
}

export interface WeightsSource {
  readonly kind: 'seeded' | 'safetensors';
  /** False for seeded weights: their predictions are meaningless. */
  readonly trained: boolean;
  readonly seed?: number;
  readonly file?: string;
  readonly sha256?: string;
}

/** How an int8 model's activation ranges were measured. */
export interface CalibrationRecord {
  readonly method: 'minmax';
  readonly count: number;
  /** sha256 over the set's sorted per-file sha256 digests (src/model/quantize/calibration-images.ts). */
  readonly sha256: string;
  /** `built-in` (models/calibration) or `directory` (--calibration DIR; the path is not recorded). */
  readonly source: 'built-in' | 'directory';
  /** [min, max] per quantization site, e.g. "layer1.0.conv2" or "layer1.0" (a block's output). */
  readonly ranges: Readonly<Record<string, readonly [number, number]>>;
}

export interface ModelManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly name: string;
  readonly architecture: ModelArchitecture;
  readonly opset: number;
  readonly irVersion: number;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly preprocess: PreprocessPreset;
  readonly labels: readonly string[];
  readonly weights: WeightsSource;
  readonly parameters: number;
  /** Manifests written before int8 builds have none: they are fp32 (loadManifest fills it in). */
  readonly precision: Precision;
  readonly calibration?: CalibrationRecord;
  /** Logits for the self-check input, computed at build time (absent inside the file's own metadata). */
  readonly reference?: ReferenceOutputs;
  /** sha256 of the .onnx file this manifest describes (absent inside the file's own metadata). */
  readonly modelSha256?: string;
}

/** Sidecar path for a model file: models/resnet50.onnx -> models/resnet50.json */
export function manifestPathFor(modelPath: string): string {
  return modelPath.replace(/\.onnx$/i, '') + '.json';
}
