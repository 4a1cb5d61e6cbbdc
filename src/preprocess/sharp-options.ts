// How this service drives sharp: process-wide settings, the options every input is opened with,
// and how libvips' errors become registry errors.
import sharp, { type SharpOptions } from 'sharp';
import { errors } from '../errors.ts';

export interface SharpSettings {
  /**
   * libvips worker threads per image (sharp.concurrency). Images run in parallel on libuv's
   * threadpool (UV_THREADPOOL_SIZE, default 4) on top of that, so the total is their product.
   */
  readonly concurrency: number;
}

/**
 * The only libvips loaders left enabled by configureSharp: the in-memory loaders of the accepted
 * formats. Every file loader and every other format (SVG, PDF, ...) is blocked process-wide, so
 * even bytes that got past the magic-byte check cannot make libvips read a path or render SVG.
 */
export const ALLOWED_LOADERS = [
  'VipsForeignLoadJpegBuffer',
  'VipsForeignLoadPngBuffer',
  'VipsForeignLoadWebpBuffer',
  'VipsForeignLoadNsgifBuffer',
  'VipsForeignLoadHeifBuffer',
  'VipsForeignLoadTiffBuffer',
] as const;

/**
 * Process-wide sharp settings: call once at startup, before the first image. Besides the
 * thread count it turns libvips' operation cache off (every input is a distinct upload, a cache
 * would only hold memory) and blocks every loader but ALLOWED_LOADERS.
 */
export function configureSharp(settings: SharpSettings): void {
  const { concurrency } = settings;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TypeError(`Expected \`concurrency\` to be an integer >= 1, got \`${concurrency}\``);
  }
  sharp.concurrency(concurrency);
  sharp.cache(false);
  sharp.block({ operation: ['VipsForeignLoad'] });
  sharp.unblock({ operation: [...ALLOWED_LOADERS] });
}

/**
 * Options for every sharp instance made from untrusted bytes. `failOn: 'error'` refuses
 * truncated and corrupt data (the default 'warning' would also refuse benign libjpeg/libpng
 * warnings that PIL accepts); `limitInputPixels` repeats the header check inside libvips;
 * `ignoreIcc` because PIL's convert('RGB'), which the weights were trained through, takes
 * stored values as they are; one page, so a GIF/WebP/TIFF never decodes past its first frame.
 */
export function inputOptions(maxImagePixels: number): SharpOptions {
  return {
    failOn: 'error',
    limitInputPixels: maxImagePixels,
    unlimited: false,
    sequentialRead: true,
    ignoreIcc: true,
    pages: 1,
    page: 0,
  };
}

/** Options for raw pixel buffers this module made itself (already decoded and bounded). */
export function rawOptions(width: number, height: number, channels: 3 | 4): SharpOptions {
  return { raw: { width, height, channels }, limitInputPixels: false, sequentialRead: true };
}

/** libvips' first line, short: enough for a client to see why, without internals. */
function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const line = message.split('\n').find((part) => part.trim() !== '') ?? 'unknown error';
  return line.trim().slice(0, 200);
}

/** Map an error thrown by sharp for untrusted input to IMAGE_TOO_MANY_PIXELS or IMAGE_UNDECODABLE. */
export function decodeError(err: unknown, maxImagePixels: number): Error {
  const why = reason(err);
  if (/pixel limit/i.test(why)) return new errors.IMAGE_TOO_MANY_PIXELS(`more than ${maxImagePixels}`, maxImagePixels);
  return new errors.IMAGE_UNDECODABLE(why);
}
