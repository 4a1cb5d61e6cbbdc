// Resize to the planned size and cut the centred crop, matching PIL's antialiased bilinear
// (the measurements behind each path: docs/preprocessing.md, "Parity with torchvision"):
//  - downscale of decoded pixels: Pillow's own arithmetic (exact-resize.ts), the same bytes;
//  - downscale in one libvips pass from encoded bytes, for images decoded whole would cost too
//    much (JPEG shrink-on-load, very large images): sharp's 'linear' kernel with fit 'fill' to
//    the exact floor()ed sizes;
//  - upscale: PIL samples at pixel centres and clamps at the edges, sharp's resize uses another
//    grid; an affine transform with centre-aligned offsets on an edge-replicated input matches.
import sharp, { type Region, type ResizeOptions, type Sharp } from 'sharp';
import type { RgbImage } from './decode.ts';
import type { ImageFormat } from './formats.ts';
import type { ResizePlan } from './geometry.ts';
import { resizeCropExact } from './exact-resize.ts';
import { asBuffer } from './limits.ts';
import { decodeError, inputOptions, rawOptions } from './sharp-options.ts';

/**
 * JPEG shrink-on-load (libjpeg's DCT scaling to 1/2, 1/4, 1/8 while decoding): 'off' decodes
 * every pixel; 'conservative' leaves at least a factor of two to the resize kernel (sharp's
 * `fastShrinkOnLoad: false`); 'fast' shrinks as far as the factor allows.
 */
export const SHRINK_ON_LOAD_MODES = ['off', 'conservative', 'fast'] as const;
export type ShrinkOnLoad = (typeof SHRINK_ON_LOAD_MODES)[number];

/** 8-bit RGB pixels and where the crop window starts in them. */
export interface CropSource extends RgbImage {
  readonly left: number;
  readonly top: number;
}

const RAW_OUT = { depth: 'uchar' } as const;

async function toCropSource(image: Sharp, left: number, top: number): Promise<CropSource> {
  const { data, info } = await image.raw(RAW_OUT).toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, left, top };
}

const linearFill = (plan: ResizePlan, fastShrinkOnLoad: boolean): ResizeOptions => ({
  width: plan.width,
  height: plan.height,
  kernel: 'linear',
  fit: 'fill',
  fastShrinkOnLoad,
});

const cropRegion = (plan: ResizePlan): Region => ({
  left: plan.left,
  top: plan.top,
  width: plan.crop,
  height: plan.crop,
});

/**
 * One libvips pass from encoded bytes: decode, orient, downscale (or not), crop, 8-bit sRGB.
 * For images without alpha or CMYK, where that equals PIL's convert('RGB') then resize.
 */
export async function resizeEncoded(
  bytes: Uint8Array,
  format: ImageFormat,
  plan: ResizePlan,
  maxImagePixels: number,
  shrinkOnLoad: ShrinkOnLoad,
): Promise<CropSource> {
  let image = sharp(asBuffer(bytes), { ...inputOptions(maxImagePixels), autoOrient: true });
  // A pipeline colourspace disables shrink-on-load in sharp (pipeline.cc, shouldPreShrink).
  if (shrinkOnLoad === 'off') image = image.pipelineColourspace('srgb');
  // Fast mode for JPEG only: for WebP, sharp would hand the whole resize to libwebp's rescaler.
  const fast = shrinkOnLoad === 'fast' && format === 'jpeg';
  if (plan.direction === 'down') image = image.resize(linearFill(plan, fast));
  image = image.extract(cropRegion(plan)).toColourspace('srgb');
  try {
    return await toCropSource(image, 0, 0);
  } catch (err) {
    throw decodeError(err, maxImagePixels);
  }
}

/** Downscale (or only crop) already decoded RGB: exactly as Pillow (exact-resize.ts). */
export function resizeDecoded(rgb: RgbImage, plan: ResizePlan): CropSource {
  if (plan.direction === 'none') return { ...rgb, left: plan.left, top: plan.top };
  const { crop } = plan;
  return { data: resizeCropExact(rgb, plan), width: crop, height: crop, left: 0, top: 0 };
}

/**
 * Upscale decoded RGB that carries `pad` replicated edge pixels on every side. PIL maps output
 * pixel X to source x = (X + 0.5) / s - 0.5 (s = out / in per axis); libvips' affine maps output
 * X to input (X - odx) / s with pixel centres on integers. With the pad, x + pad must equal
 * (X + k - odx) / s for the output index X + k: odx = k - pad - (s - 1) / 2, and k is chosen
 * so that odx is in [0, 1), where the output area starts at 0.
 */
export async function upscaleDecoded(padded: RgbImage, pad: number, plan: ResizePlan): Promise<CropSource> {
  const sx = plan.width / (padded.width - 2 * pad);
  const sy = plan.height / (padded.height - 2 * pad);
  const kx = Math.ceil(pad + (sx - 1) / 2);
  const ky = Math.ceil(pad + (sy - 1) / 2);
  const image = sharp(padded.data, rawOptions(padded.width, padded.height, 3)).affine([sx, 0, 0, sy], {
    odx: kx - pad - (sx - 1) / 2,
    ody: ky - pad - (sy - 1) / 2,
    interpolator: 'bilinear',
  });
  return toCropSource(image, plan.left + kx, plan.top + ky);
}
