// Which images may reach sharp at all: decided from the magic bytes, before any decoder runs.
// libvips would sniff and load more (SVG through librsvg, raw, and whatever else the build has);
// an allow-list of six raster formats keeps that surface out of reach of untrusted bytes.
import { errors } from '../errors.ts';

export const ACCEPTED_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'] as const;
export type ImageFormat = (typeof ACCEPTED_FORMATS)[number];

/** sharp's `metadata().format` for each accepted format: AVIF is read by libheif ("heif"). */
export const SHARP_FORMAT_NAME: Readonly<Record<ImageFormat, string>> = Object.freeze({
  jpeg: 'jpeg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
  avif: 'heif',
  tiff: 'tiff',
});

export type SniffResult =
  { readonly accepted: true; readonly format: ImageFormat } | { readonly accepted: false; readonly name: string };

const ascii = (bytes: Uint8Array, start: number, end: number): string =>
  String.fromCharCode(...bytes.subarray(start, end));

const startsWith = (bytes: Uint8Array, signature: readonly number[], at = 0): boolean =>
  bytes.length >= at + signature.length && signature.every((value, i) => bytes[at + i] === value);

/** ISO-BMFF `ftyp` brands (major + compatible) of AVIF/HEIF files, or undefined if not one. */
function ftypBrands(bytes: Uint8Array): string[] | undefined {
  if (bytes.length < 16 || ascii(bytes, 4, 8) !== 'ftyp') return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const boxEnd = Math.min(view.getUint32(0), bytes.length, 256);
  const brands = [ascii(bytes, 8, 12)];
  for (let at = 16; at + 4 <= boxEnd; at += 4) brands.push(ascii(bytes, at, at + 4));
  return brands;
}

/** Formats that are recognised only to be refused by name (the message says what was sent). */
function refusedName(bytes: Uint8Array): string {
  // TextDecoder drops a UTF-8 byte-order mark, which SVG files may start with.
  const head = new TextDecoder().decode(bytes.subarray(0, 256)).trimStart();
  if (head.startsWith('%PDF')) return 'pdf';
  if (/^<(\?xml|svg|!DOCTYPE svg)/i.test(head)) return 'svg';
  if (head.startsWith('BM')) return 'bmp';
  if (startsWith(bytes, [0, 0, 1, 0]) || startsWith(bytes, [0, 0, 2, 0])) return 'ico';
  if (head.startsWith('8BPS')) return 'psd';
  if (startsWith(bytes, [0xff, 0x0a]) || ascii(bytes, 4, 8) === 'JXL ') return 'jxl';
  if (ascii(bytes, 4, 8) === 'jP  ') return 'jp2';
  if (ftypBrands(bytes) !== undefined) return 'heic';
  return 'unknown';
}

export function sniffImageFormat(bytes: Uint8Array): SniffResult {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return { accepted: true, format: 'jpeg' };
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { accepted: true, format: 'png' };
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') {
    return { accepted: true, format: 'webp' };
  }
  if (bytes.length >= 6 && /^GIF8[79]a$/.test(ascii(bytes, 0, 6))) return { accepted: true, format: 'gif' };
  // Classic TIFF (42) and BigTIFF (43), little- and big-endian.
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0]) || startsWith(bytes, [0x4d, 0x4d, 0, 0x2a])) {
    return { accepted: true, format: 'tiff' };
  }
  if (startsWith(bytes, [0x49, 0x49, 0x2b, 0]) || startsWith(bytes, [0x4d, 0x4d, 0, 0x2b])) {
    return { accepted: true, format: 'tiff' };
  }
  // AVIF only: HEIC (HEVC) shares the container, but is refused (no decoder in sharp's build).
  const brands = ftypBrands(bytes);
  if (brands?.some((brand) => brand === 'avif' || brand === 'avis')) return { accepted: true, format: 'avif' };
  return { accepted: false, name: refusedName(bytes) };
}

/** How a person writes each accepted format, for messages. */
const DISPLAY_NAME: Readonly<Record<ImageFormat, string>> = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  gif: 'GIF',
  avif: 'AVIF',
  tiff: 'TIFF',
};
const names = ACCEPTED_FORMATS.map((format) => DISPLAY_NAME[format]);
/** "JPEG, PNG, WebP, GIF, AVIF or TIFF" */
const ACCEPTED_NAMES = `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;

/** UNSUPPORTED_IMAGE_FORMAT (415) naming what was sent (`name`) and what is accepted. */
export function unsupportedFormat(name: string): Error {
  return new errors.UNSUPPORTED_IMAGE_FORMAT(name, ACCEPTED_NAMES);
}

/** The accepted format of `bytes`, or UNSUPPORTED_IMAGE_FORMAT (415) naming what was sent. */
export function requireSupportedFormat(bytes: Uint8Array): ImageFormat {
  const sniffed = sniffImageFormat(bytes);
  if (!sniffed.accepted) throw unsupportedFormat(sniffed.name);
  return sniffed.format;
}
