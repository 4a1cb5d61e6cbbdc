// Where the network's numbers come from. The model code asks for each conv+BN pair and the fc layer
// by their torchvision names; a source answers from a seed (seeded.ts) or a file (safetensors.ts).
import type { WeightsSource } from '../manifest.ts';

/** torchvision's nn.BatchNorm2d default epsilon; HF transformers' ResNet uses the same. */
export const BN_EPSILON = 1e-5;

export interface BatchNormParams {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  readonly runningMean: Float32Array;
  readonly runningVar: Float32Array;
}

export type BatchNormRole = 'relu' | 'residual' | 'projection';

export interface ConvBnRequest {
  /** torchvision names, e.g. "layer1.0.conv1" and "layer1.0.bn1". */
  readonly conv: string;
  readonly bn: string;
  /** [out, in, kh, kw] */
  readonly shape: readonly [number, number, number, number];
  /**
   * What follows the BatchNorm: a ReLU, the add that ends a residual branch, or (projection
   * shortcut) the add from the other side. Seeded initialisation uses it to keep activations at
   * unit scale; weights from a file ignore it.
   */
  readonly role: BatchNormRole;
}

export interface LinearWeights {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

export interface WeightSource {
  /** How the manifest describes these weights. */
  readonly description: WeightsSource;
  convBn(request: ConvBnRequest): { weight: Float32Array; bn: BatchNormParams };
  linear(name: string, outFeatures: number, inFeatures: number): LinearWeights;
  /** Called once after every request: a file-backed source throws here, listing every problem. */
  finish(): void;
}
