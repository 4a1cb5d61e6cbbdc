// The header of a baseline or progressive 8-bit JPEG, read in JavaScript: size, component count
// and EXIF orientation, which is all the resize plan needs. sharp's metadata() gave the same for
// about 0.4 ms of CPU per image (a second libvips open of the bytes, on the libuv pool) before the
// one decode; this reads a few hundred bytes. Anything it does not recognise with certainty
// (no frame header before the scan, 12-bit samples, CMYK, an orientation outside 1-8, a segment
// that runs past the end) returns undefined, and the caller asks sharp as before. libvips still
// decodes the image itself with its own pixel limit (sharp-options.ts), so a header that lies about
// its size cannot make the decode larger than MAX_IMAGE_PIXELS.

/** What the resize plan needs from a JPEG header; width and height are after EXIF orientation. */
export interface JpegHeader {
  readonly width: number;
  readonly height: number;
  readonly space: 'srgb' | 'b-w';
  /** EXIF orientation 1 (or none): the stored pixels are the upright image. */
  readonly upright: boolean;
}

/** Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC). */
const isFrameMarker = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
const EOI = 0xd9;
const SOS = 0xda;
const APP1 = 0xe1;
const EXIF_ORIENTATION_TAG = 0x0112;

interface Frame {
  readonly precision: number;
  readonly height: number;
  readonly width: number;
  readonly components: number;
}

const isExif = (app1: Uint8Array) =>
  app1.length >= 4 && app1[0] === 0x45 && app1[1] === 0x78 && app1[2] === 0x69 && app1[3] === 0x66;

/** EXIF orientation (1-8) from an "Exif" APP1 payload, 1 when it has no such tag, undefined when malformed. */
export function exifOrientation(app1: Uint8Array): number | undefined {
  // "Exif\0\0", then a TIFF header: byte order, 42, offset of IFD0.
  if (app1.length < 14 || app1[4] !== 0 || app1[5] !== 0) return undefined;
  const tiff = new DataView(app1.buffer, app1.byteOffset + 6, app1.length - 6);
  const order = tiff.getUint16(0);
  if (order !== 0x4949 && order !== 0x4d4d) return undefined;
  const little = order === 0x4949;
  if (tiff.getUint16(2, little) !== 42) return undefined;
  const ifd = tiff.getUint32(4, little);
  if (ifd + 2 > tiff.byteLength) return undefined;
  const entries = tiff.getUint16(ifd, little);
  if (ifd + 2 + 12 * entries > tiff.byteLength) return undefined;
  for (let i = 0; i < entries; i++) {
    const at = ifd + 2 + 12 * i;
    if (tiff.getUint16(at, little) !== EXIF_ORIENTATION_TAG) continue;
    // SHORT (type 3), one value, stored in the entry itself.
    if (tiff.getUint16(at + 2, little) !== 3 || tiff.getUint32(at + 4, little) !== 1) return undefined;
    const value = tiff.getUint16(at + 8, little);
    return value >= 1 && value <= 8 ? value : undefined;
  }
  return 1;
}

/** The frame header and the EXIF orientation, from every segment before the first scan (as libjpeg reads them). */
function walk(bytes: Uint8Array): { frame: Frame; orientation: number } | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let frame: Frame | undefined;
  let orientation: number | undefined;
  let exifSegments = 0;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1] as number;
    // Fill bytes, and the markers that carry no length.
    if (marker === 0xff || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += marker === 0xff ? 1 : 2;
      continue;
    }
    if (marker === SOS) return frame === undefined ? undefined : { frame, orientation: orientation ?? 1 };
    if (marker === EOI) return undefined;
    const length = view.getUint16(at + 2);
    const end = at + 2 + length;
    if (length < 2 || end > bytes.length) return undefined;
    const payload = bytes.subarray(at + 4, end);
    if (marker === APP1 && isExif(payload)) {
      // libvips keeps the last EXIF segment; a file with two is left to it.
      if (++exifSegments > 1) return undefined;
      orientation = exifOrientation(payload);
      if (orientation === undefined) return undefined;
    }
    if (isFrameMarker(marker)) {
      // One frame per image (the hierarchical kind, with several, is left to libvips).
      if (length < 8 || frame !== undefined) return undefined;
      frame = {
        precision: view.getUint8(at + 4),
        height: view.getUint16(at + 5),
        width: view.getUint16(at + 7),
        components: view.getUint8(at + 9),
      };
    }
    at = end;
  }
  return undefined;
}

/** The header of an 8-bit greyscale or colour JPEG; undefined for anything the caller should ask libvips about. */
export function readJpegHeader(bytes: Uint8Array): JpegHeader | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  const found = walk(bytes);
  if (found === undefined) return undefined;
  const { frame, orientation } = found;
  if (frame.precision !== 8 || frame.width === 0 || frame.height === 0) return undefined;
  if (frame.components !== 1 && frame.components !== 3) return undefined;
  // Orientations 5-8 transpose the image.
  const [width, height] = orientation >= 5 ? [frame.height, frame.width] : [frame.width, frame.height];
  return { width, height, space: frame.components === 1 ? 'b-w' : 'srgb', upright: orientation === 1 };
}
