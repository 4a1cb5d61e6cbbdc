// Decode, orient and convert colour to full-size 8-bit RGB, for the images whose conversion must
// happen before the resize to match PIL (convert('RGB') runs before Resize in the reference):
//  - alpha: PIL's convert('RGB') drops alpha without compositing, and resizes the colour alone;
//    sharp would resize with premultiplied alpha, which changes every semi-transparent pixel;
//  - CMYK: PIL's naive formula (colour.ts) instead of libvips' ICC conversion;
//  - upscaling (affine in resize.ts), which needs decoded pixels with replicated edges.
import sharp, { type OutputInfo } from 'sharp';
import { errors } from '../errors.ts';
import { cmykToRgb } from './colour.ts';
import { asBuffer, type ImageHeader } from './limits.ts';
import { decodeError, inputOptions } from './sharp-options.ts';
import { decodeJpegRgb } from './turbojpeg.ts';

/** Interleaved 8-bit RGB. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Whether sharp's one-pass decode+resize would diverge from PIL for this image. */
export function needsFullDecode(header: ImageHeader): boolean {
  return header.hasAlpha || header.space === 'cmyk';
}

/**
 * The whole first frame as 8-bit RGB after EXIF orientation, optionally grown by `pad` pixels on
 * every side with copies of the edge pixels. 16-bit input keeps its high byte, as PIL does.
 */
export async function decodeToRgb(
  bytes: Uint8Array,
  header: ImageHeader,
  maxImagePixels: number,
  pad = 0,
): Promise<RgbImage> {
  // An upright colour or grey JPEG (read by jpeg-header.ts) needs nothing but the decode:
  // libjpeg-turbo's when it is in use and decodes it cleanly (turbojpeg.ts), else libvips' below.
  if (header.upright === true && pad === 0) {
    const data = await decodeJpegRgb(bytes, header.width, header.height);
    if (data !== undefined) return { data, width: header.width, height: header.height };
  }
  const cmyk = header.space === 'cmyk';
  // An upright colour JPEG decodes to sRGB as it is: each step below would be one more libvips
  // operation to build (about 0.3 ms of CPU per image together), doing nothing.
  const plain = header.upright === true && header.space === 'srgb' && !header.hasAlpha && pad === 0;
  let image = sharp(asBuffer(bytes), { ...inputOptions(maxImagePixels), autoOrient: !plain });
  if (pad > 0) image = image.extend({ top: pad, bottom: pad, left: pad, right: pad, extendWith: 'copy' });
  if (!plain) {
    // Keeping the pipeline in CMYK makes libvips hand over the stored ink values untouched.
    image = image.removeAlpha();
    image = cmyk ? image.pipelineColourspace('cmyk').toColourspace('cmyk') : image.toColourspace('srgb');
  }
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw decodeError(err, maxImagePixels);
  }
  const { data, info } = decoded;
  const expected = cmyk ? 4 : 3;
  if (info.channels !== expected) throw new errors.IMAGE_UNDECODABLE(`decoded to ${info.channels} channels`);
  return { data: cmyk ? cmykToRgb(data) : data, width: info.width, height: info.height };
}
