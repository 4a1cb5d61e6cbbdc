// Limits that are checked before any pixel is decoded: the byte count first, then the pixel
// count that the header claims (sharp's metadata() parses headers only), so a decompression bomb
// (a small file that claims 50000x50000) is refused for the price of reading its header.
import sharp, { type Metadata } from 'sharp';
import { errors } from '../errors.ts';
import { SHARP_FORMAT_NAME, unsupportedFormat, type ImageFormat } from './formats.ts';
import { readJpegHeader } from './jpeg-header.ts';
import { decodeError, inputOptions } from './sharp-options.ts';

export interface ImageLimits {
  /** Encoded size limit (MAX_IMAGE_BYTES). */
  readonly maxImageBytes: number;
  /** width x height limit of the first frame (MAX_IMAGE_PIXELS). */
  readonly maxImagePixels: number;
}

/** What the header says, with width and height after EXIF orientation. */
export interface ImageHeader {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  /** libvips interpretation: 'srgb', 'b-w', 'rgb16', 'grey16', 'cmyk', ... */
  readonly space: string;
  readonly hasAlpha: boolean;
  /** Known to need no EXIF rotation (read from a JPEG's header in JavaScript); absent when unknown. */
  readonly upright?: boolean;
}

/**
 * The resized image (short side 256, long side in proportion) is bounded like the decoded one:
 * upscaling an extreme aspect ratio made a 16383x1 JPEG into 4194048x256 pixels, 3.4 GB and over
 * 15 s (found by `npm run fuzz`). Only images over ~610:1 reach the default 40 MP.
 */
export function checkResizedPixels(width: number, height: number, maxImagePixels: number): void {
  if (width * height > maxImagePixels)
    throw new errors.IMAGE_TOO_MANY_PIXELS(`${width * height} (resized to ${width}x${height})`, maxImagePixels);
}

export function checkByteLimit(bytes: Uint8Array, maxImageBytes: number): void {
  if (bytes.length === 0) throw new errors.IMAGE_UNDECODABLE('the image is empty');
  if (bytes.length > maxImageBytes) throw new errors.IMAGE_TOO_LARGE(maxImageBytes);
}

/** A Buffer view of the caller's bytes (no copy): sharp only ever sees memory, never a path. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkedHeader(header: ImageHeader, maxImagePixels: number): ImageHeader {
  const { width, height } = header;
  if (!(width > 0 && height > 0)) throw new errors.IMAGE_UNDECODABLE('the header has no size');
  if (width * height > maxImagePixels) throw new errors.IMAGE_TOO_MANY_PIXELS(width * height, maxImagePixels);
  return header;
}

export async function readHeader(bytes: Uint8Array, format: ImageFormat, limits: ImageLimits): Promise<ImageHeader> {
  const { maxImagePixels } = limits;
  // The common upload, read without a libvips call (jpeg-header.ts says what it leaves to sharp).
  const jpeg = format === 'jpeg' ? readJpegHeader(bytes) : undefined;
  if (jpeg !== undefined) return checkedHeader({ format, ...jpeg, hasAlpha: false }, maxImagePixels);
  let meta: Metadata;
  try {
    // Without sharp's own pixel limit here, so that the refusal below can say the real count.
    meta = await sharp(asBuffer(bytes), { ...inputOptions(maxImagePixels), limitInputPixels: false }).metadata();
  } catch (err) {
    throw decodeError(err, maxImagePixels);
  }
  // libvips sniffs on its own; it must have picked the loader of the format we allowed.
  if (meta.format !== SHARP_FORMAT_NAME[format]) throw unsupportedFormat(String(meta.format));
  if (format === 'avif' && meta.compression !== 'av1') throw unsupportedFormat('heic');
  const { width, height } = meta.autoOrient;
  return checkedHeader({ format, width, height, space: meta.space, hasAlpha: meta.hasAlpha }, maxImagePixels);
}
