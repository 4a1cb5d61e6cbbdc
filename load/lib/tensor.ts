// The preprocessed tensor of the load image, made by the service's own preprocessing, for the
// bodies that carry tensors (V2 binary) and for driving the raw engine on pre-made tensors.
import { preprocessImage } from '../../src/preprocess/index.ts';
import { IMAGENET_PRESET } from '../../src/preprocess/preset.ts';

export async function tensorFor(image: Uint8Array): Promise<Float32Array> {
  return preprocessImage(image, { preset: IMAGENET_PRESET, maxImageBytes: image.length, maxImagePixels: 100_000_000 });
}
