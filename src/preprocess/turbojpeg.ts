// JPEG decoding with libjpeg-turbo's TurboJPEG API, from the system's libturbojpeg (Debian:
// libturbojpeg0), called through koffi (a C FFI with prebuilt binaries) on libuv's pool. The same
// libjpeg arithmetic as libvips' decode (accurate integer IDCT, fancy upsampling), so the same
// bytes, for a third of the CPU or less: sharp's fixed cost per call (its options object, the
// libvips pipeline, its threads and buffers) is most of what a 500x375 JPEG costs it.
// Only a clean decode is used: any warning or error (truncated or corrupt data, too many scans)
// hands the image back to libvips, so what is refused, and with which message, stays libvips'.
import koffi, { type LibraryHandle } from 'koffi';

/** JPEG_DECODER: 'auto' uses libjpeg-turbo when the library loads, libvips (through sharp) otherwise. */
export const JPEG_DECODERS = ['auto', 'libjpeg-turbo', 'sharp'] as const;
export type JpegDecoderSetting = (typeof JPEG_DECODERS)[number];
export type JpegDecoder = Exclude<JpegDecoderSetting, 'auto'>;

/** libturbojpeg 2.1 or later (TJFLAG_LIMITSCANS), by the names the dynamic loader knows it on Linux. */
const LIBRARY_NAMES = ['libturbojpeg.so.0', 'libturbojpeg.so'];

// turbojpeg.h
const TJPF_RGB = 0;
const TJFLAG_LIMITSCANS = 32768;
const TJCS_RGB = 0;
const TJCS_YCBCR = 1;
const TJCS_GRAY = 2;

/** Decodes in flight at once; more wait here (koffi refuses calls beyond its own queue of 256). */
const MAX_IN_FLIGHT = 4;

interface TurboJpeg {
  readonly init: () => unknown;
  readonly destroy: (handle: unknown) => number;
  readonly header: (handle: unknown, bytes: Uint8Array, size: number, out: Int32Array) => number;
  readonly decompress: {
    async(
      handle: unknown,
      bytes: Uint8Array,
      size: number,
      dst: Uint8Array,
      width: number,
      pitch: number,
      height: number,
      format: number,
      flags: number,
      done: (err: unknown, result: number) => void,
    ): void;
  };
}

let library: TurboJpeg | null | undefined;
let loadError = '';

function bind(lib: LibraryHandle): TurboJpeg {
  const header = lib.func(
    'int tjDecompressHeader3(void *h, const uint8_t *buf, unsigned long size, int *w, int *ht, int *ss, int *cs)',
  );
  return {
    init: lib.func('void *tjInitDecompress()'),
    destroy: lib.func('int tjDestroy(void *h)'),
    // One Int32Array receives the four outputs (width, height, subsampling, colourspace).
    header: (handle, bytes, size, out) =>
      header(handle, bytes, size, out.subarray(0, 1), out.subarray(1, 2), out.subarray(2, 3), out.subarray(3, 4)),
    decompress: lib.func(
      'int tjDecompress2(void *h, const uint8_t *buf, unsigned long size, uint8_t *dst, int w, int pitch, int ht, int pf, int flags)',
    ),
  };
}

/** The library, loaded on first use; null when no libturbojpeg loads here. */
function turbojpeg(): TurboJpeg | null {
  if (library !== undefined) return library;
  library = null;
  for (const name of LIBRARY_NAMES) {
    try {
      library = bind(koffi.load(name));
      break;
    } catch (err) {
      loadError ||= err instanceof Error ? err.message : String(err);
    }
  }
  return library;
}

let chosen: JpegDecoder | undefined;

/**
 * Picks the JPEG decoder for the process (JPEG_DECODER) and returns the one in use. Throws when
 * 'libjpeg-turbo' is asked for and the library does not load.
 */
export function configureJpegDecoder(setting: JpegDecoderSetting): JpegDecoder {
  if (setting === 'sharp') return (chosen = 'sharp');
  if (turbojpeg() !== null) return (chosen = 'libjpeg-turbo');
  if (setting === 'libjpeg-turbo') {
    throw new Error(
      `JPEG_DECODER=libjpeg-turbo, but libturbojpeg does not load (${loadError}); install it (Debian: apt-get install libturbojpeg0) or use JPEG_DECODER=auto`,
    );
  }
  return (chosen = 'sharp');
}

/** The decoder in use: configureJpegDecoder's choice, else 'auto' on first use. */
export function jpegDecoder(): JpegDecoder {
  return (chosen ??= configureJpegDecoder('auto'));
}

const idle: unknown[] = [];
let inFlight = 0;
const waiting: (() => void)[] = [];

/** A place among the MAX_IN_FLIGHT decodes; release() hands it to the next in line. */
async function acquire(): Promise<void> {
  if (inFlight < MAX_IN_FLIGHT) inFlight++;
  else await new Promise<void>((resolve) => waiting.push(resolve));
}

function release(): void {
  const next = waiting.shift();
  if (next === undefined) inFlight--;
  else next();
}

/**
 * Runs `work` with a handle of its own. A handle is not thread-safe, so each decode in flight
 * holds one; it is kept for reuse after a clean decode only: after some errors (a bad Huffman
 * table in the header, in libturbojpeg 2.1) a handle fails every later call.
 */
async function withHandle<T>(
  lib: TurboJpeg,
  work: (handle: unknown) => Promise<T | undefined>,
): Promise<T | undefined> {
  await acquire();
  const handle = idle.pop() ?? lib.init();
  let result: T | undefined;
  try {
    result = handle === null ? undefined : await work(handle);
    return result;
  } finally {
    if (handle !== null) {
      if (result === undefined) lib.destroy(handle);
      else idle.push(handle);
    }
    release();
  }
}

/**
 * An 8-bit colour or greyscale JPEG as width x height interleaved RGB, the way libvips would
 * decode it; undefined when libjpeg-turbo is not in use or does not decode it cleanly (the caller
 * then asks libvips), or when its size is not the expected one.
 */
export async function decodeJpegRgb(bytes: Uint8Array, width: number, height: number): Promise<Uint8Array | undefined> {
  const lib = jpegDecoder() === 'libjpeg-turbo' ? turbojpeg() : null;
  if (lib === null) return undefined;
  return withHandle(lib, async (handle) => {
    const header = new Int32Array(4);
    if (lib.header(handle, bytes, bytes.length, header) !== 0) return undefined;
    const [w, h, , space] = header;
    if (w !== width || h !== height || (space !== TJCS_YCBCR && space !== TJCS_GRAY && space !== TJCS_RGB)) {
      return undefined;
    }
    const out = Buffer.allocUnsafe(width * height * 3);
    const status = await new Promise<number>((resolve, reject) =>
      lib.decompress.async(handle, bytes, bytes.length, out, width, 0, height, TJPF_RGB, TJFLAG_LIMITSCANS, (err, r) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(r),
      ),
    );
    // -1 also after a warning (the image decoded, with something wrong in it): libvips decides.
    return status === 0 ? out : undefined;
  });
}
