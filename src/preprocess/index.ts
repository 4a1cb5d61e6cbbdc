// Image bytes -> normalized float32 CHW tensor, the way torchvision's ResNet-50 preset makes it
// (exif_transpose -> convert('RGB') -> Resize -> CenterCrop -> ToTensor -> Normalize), with
// hostile input refused before it costs anything. Order: byte limit, magic bytes, header-only
// pixel limit, the resized size, then one decode (see decode.ts and resize.ts for which path an
// image takes). preprocessPixels stops before ToTensor: the 8-bit crop, a quarter of the bytes,
// which the inference engine's worker normalizes into its batch (normalize.ts, the same table).
import { needsFullDecode, decodeToRgb } from './decode.ts';
import { requireSupportedFormat } from './formats.ts';
import { planResize, type ResizePlan } from './geometry.ts';
import { checkByteLimit, checkResizedPixels, readHeader, type ImageHeader } from './limits.ts';
import { normalizeInto } from './normalize.ts';
import type { PreprocessPreset } from './preset.ts';
import { resizeDecoded, resizeEncoded, upscaleDecoded, type CropSource, type ShrinkOnLoad } from './resize.ts';

export { configureSharp, type SharpSettings } from './sharp-options.ts';
export { configureJpegDecoder, JPEG_DECODERS, type JpegDecoder, type JpegDecoderSetting } from './turbojpeg.ts';
export { normalizeInto } from './normalize.ts';
export { ACCEPTED_FORMATS, type ImageFormat } from './formats.ts';
export { IMAGENET_PRESET, type PreprocessPreset } from './preset.ts';
export { SHRINK_ON_LOAD_MODES, type ShrinkOnLoad } from './resize.ts';

export interface PreprocessOptions {
  readonly preset: PreprocessPreset;
  readonly maxImageBytes: number;
  readonly maxImagePixels: number;
  /** JPEG shrink-on-load; the default is the mode that measured within the parity bounds. */
  readonly shrinkOnLoad?: ShrinkOnLoad;
}

/** A batch slot: the tensor is written to buffer[offset, offset + 3 * crop * crop). */
export interface TensorSlot {
  readonly buffer: Float32Array;
  readonly offset: number;
}

export const DEFAULT_SHRINK_ON_LOAD: ShrinkOnLoad = 'conservative';

/** Largest image (width x height) that a downscale decodes whole: 12 MB of RGB. */
const EXACT_RESIZE_MAX_PIXELS = 2048 * 2048;

/** Edge pixels replicated around an image before the affine upscale (resize.ts). */
const UPSCALE_PAD = 1;

/** Length of one image's tensor for a preset: 3 x crop x crop. */
export function tensorLength(preset: PreprocessPreset): number {
  return 3 * preset.crop * preset.crop;
}

function checkPreset(preset: PreprocessPreset): void {
  const { resize, crop } = preset;
  if (!Number.isInteger(resize) || !Number.isInteger(crop) || crop < 1 || crop > resize) {
    throw new TypeError(
      `Expected preset crop and resize to be integers with 1 <= crop <= resize, got ${crop} and ${resize}`,
    );
  }
}

function targetSlot(length: number, out: TensorSlot | undefined): TensorSlot {
  if (out === undefined) return { buffer: new Float32Array(length), offset: 0 };
  const { buffer, offset } = out;
  if (!Number.isInteger(offset) || offset < 0 || offset + length > buffer.length) {
    throw new RangeError(`Expected a slot of ${length} floats at offset ${offset} in a buffer of ${buffer.length}`);
  }
  return out;
}

async function resizeAndCrop(
  bytes: Uint8Array,
  header: ImageHeader,
  plan: ResizePlan,
  options: PreprocessOptions,
): Promise<CropSource> {
  const { maxImagePixels } = options;
  if (plan.direction === 'up') {
    return upscaleDecoded(await decodeToRgb(bytes, header, maxImagePixels, UPSCALE_PAD), UPSCALE_PAD, plan);
  }
  const shrinkOnLoad = options.shrinkOnLoad ?? DEFAULT_SHRINK_ON_LOAD;
  if (needsFullDecode(header) || resizesExactly(header, plan, shrinkOnLoad)) {
    return resizeDecoded(await decodeToRgb(bytes, header, maxImagePixels), plan);
  }
  return resizeEncoded(bytes, header.format, plan, maxImagePixels, shrinkOnLoad);
}

/**
 * Whether a downscale decodes the whole image and resizes it with Pillow's arithmetic (the same
 * bytes as torchvision) rather than in one libvips pass. Not when libvips would shrink a JPEG
 * while decoding it (far cheaper for large photos, at some distance from PIL), nor beyond
 * EXACT_RESIZE_MAX_PIXELS, so a decoded image stays a bounded buffer.
 */
function resizesExactly(header: ImageHeader, plan: ResizePlan, shrinkOnLoad: ShrinkOnLoad): boolean {
  if (plan.direction !== 'down' || header.width * header.height > EXACT_RESIZE_MAX_PIXELS) return false;
  if (header.format !== 'jpeg' || shrinkOnLoad === 'off') return true;
  // sharp's rule (pipeline.cc): shrink-on-load starts at an integral shrink of 2, or of 4 when it
  // must leave a factor of two to the kernel ('conservative').
  const shrink = Math.floor(Math.min(header.width / plan.width, header.height / plan.height));
  return shrink < (shrinkOnLoad === 'fast' ? 2 : 4);
}

/** The checks, then one decode: the crop window of 8-bit RGB (maybe inside a larger image). */
async function cropSource(bytes: Uint8Array, options: PreprocessOptions): Promise<CropSource> {
  checkByteLimit(bytes, options.maxImageBytes);
  const format = requireSupportedFormat(bytes);
  const header = await readHeader(bytes, format, options);
  const plan = planResize(header.width, header.height, options.preset);
  checkResizedPixels(plan.width, plan.height, options.maxImagePixels);
  return resizeAndCrop(bytes, header, plan, options);
}

/** The crop x crop window of a source as its own buffer (the source itself when it is just that). */
function tightCrop(source: CropSource, crop: number): Uint8Array {
  const { data, width, height, left, top } = source;
  const row = 3 * crop;
  if (left === 0 && top === 0 && width === crop && height === crop) return data.subarray(0, row * crop);
  const out = new Uint8Array(row * crop);
  for (let y = 0; y < crop; y++) {
    const from = ((top + y) * width + left) * 3;
    out.set(data.subarray(from, from + row), y * row);
  }
  return out;
}

/**
 * The centre crop of one encoded image as 8-bit RGB, [crop, crop, 3] (HWC): what the engine's
 * inferPixels takes; normalizeInto turns it into exactly the tensor preprocessImage makes.
 * Throws what preprocessImage throws.
 */
export async function preprocessPixels(bytes: Uint8Array, options: PreprocessOptions): Promise<Uint8Array> {
  checkPreset(options.preset);
  return tightCrop(await cropSource(bytes, options), options.preset.crop);
}

/**
 * The CHW float32 tensor of one encoded image: written into `out` at its offset when given
 * (the returned array is then a view of that slot), else a new array.
 * Throws IMAGE_UNDECODABLE (400), IMAGE_TOO_LARGE and IMAGE_TOO_MANY_PIXELS (413),
 * UNSUPPORTED_IMAGE_FORMAT (415).
 */
export async function preprocessImage(
  bytes: Uint8Array,
  options: PreprocessOptions,
  out?: TensorSlot,
): Promise<Float32Array> {
  const { preset } = options;
  checkPreset(preset);
  const length = tensorLength(preset);
  const slot = targetSlot(length, out);
  const source = await cropSource(bytes, options);
  normalizeInto(source, preset.crop, preset, slot.buffer, slot.offset);
  return slot.buffer.subarray(slot.offset, slot.offset + length);
}
