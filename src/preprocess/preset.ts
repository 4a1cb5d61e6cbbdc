// The preprocessing preset is data: the model's manifest carries it, so a model built for other
// weights can say how its inputs are made. IMAGENET is torchvision's ResNet-50 preset
// (ResNet50_Weights.IMAGENET1K_V1.transforms(): Resize(256) -> CenterCrop(224) -> Normalize).
export interface PreprocessPreset {
  /** Short side after resize, in pixels (antialiased bilinear). */
  readonly resize: number;
  /** Side of the centred square crop, in pixels. */
  readonly crop: number;
  /** Per-channel mean and std, in [0,1] units, RGB order. */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly interpolation: 'bilinear';
  readonly layout: 'CHW';
}

export const IMAGENET_PRESET: PreprocessPreset = Object.freeze({
  resize: 256,
  crop: 224,
  mean: [0.485, 0.456, 0.406] as const,
  std: [0.229, 0.224, 0.225] as const,
  interpolation: 'bilinear',
  layout: 'CHW',
});
