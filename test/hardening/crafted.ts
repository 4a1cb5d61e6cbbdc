// Hostile files made in a few lines each, never committed as fixtures: decompression bombs (a
// header that claims far more pixels than the bytes carry), polyglots, and multipart bodies.
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { manyFrameGif, png } from '../preprocess/crafted.ts';

export { manyFrameGif };

/** A valid 8x8 grey RGB PNG of ~80 bytes. */
export function png8x8(): Buffer {
  return png({
    width: 8,
    height: 8,
    bitDepth: 8,
    colourType: 2,
    pixels: Buffer.alloc(8 * 8 * 3, 0x80),
    rowBytes: 8 * 3,
  });
}

/** An RGB PNG whose header says width x height, with up to 1 MB of zero rows deflated to ~1 kB as its data. */
export function pngBomb(width: number, height: number): Buffer {
  const rowBytes = width * 3;
  return png({
    width,
    height,
    bitDepth: 8,
    colourType: 2,
    pixels: Buffer.alloc(Math.min(1_000_000, rowBytes * height)),
    rowBytes,
  });
}

/** A copy of a baseline/progressive JPEG whose SOF marker claims width x height. */
export function jpegWithFrameSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let at = 2; at + 9 < out.length;) {
    if (out[at] !== 0xff) throw new Error(`no JPEG marker at ${at}`);
    const marker = out[at + 1] ?? 0;
    if (marker >= 0xc0 && marker <= 0xc3) {
      out.writeUInt16BE(height, at + 5);
      out.writeUInt16BE(width, at + 7);
      return out;
    }
    at += 2 + out.readUInt16BE(at + 2);
  }
  throw new Error('no SOF marker');
}

/** A small flat lossless WebP (VP8L): its image data costs almost no bits per pixel. */
export function flatLosslessWebp(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#808080' } })
    .webp({ lossless: true })
    .toBuffer();
}

/** A WebP whose extended header (VP8X) claims a width x height canvas around a small image. */
export function webpWithCanvas(small: Buffer, width: number, height: number): Buffer {
  const vp8x = Buffer.alloc(18);
  vp8x.write('VP8X', 0, 'latin1');
  vp8x.writeUInt32LE(10, 4);
  vp8x.writeUIntLE(width - 1, 12, 3);
  vp8x.writeUIntLE(height - 1, 15, 3);
  const body = Buffer.concat([Buffer.from('WEBP', 'latin1'), vp8x, small.subarray(12)]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

/** A lossless WebP whose VP8L header claims width x height (14 bits each, up to 16384). */
export function vp8lWithSize(webp: Buffer, width: number, height: number): Buffer {
  if (webp.toString('latin1', 12, 16) !== 'VP8L') throw new Error('not a VP8L WebP');
  const out = Buffer.from(webp);
  // Byte 20 is the 0x2f signature; then 14 bits width-1, 14 bits height-1 (little-endian bit order).
  const bits = out.readUInt32LE(21);
  out.writeUInt32LE(((bits & ~0x0fffffff) | ((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14)) >>> 0, 21);
  return out;
}

/** "GIF89a/*" then the rest of a GIF, then a script: valid as a GIF and as JavaScript. */
export function gifJsPolyglot(): Buffer {
  const gif = manyFrameGif(64, 48, 1);
  return Buffer.concat([
    Buffer.from('GIF89a/*', 'latin1'),
    gif.subarray(8),
    Buffer.from('*/=1;alert(document.domain);//', 'latin1'),
  ]);
}

export const PDF = Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n', 'latin1');
export const SVG = Buffer.from(
  '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="50000" height="50000"><image href="file:///etc/passwd"/></svg>',
);
export const HTML = Buffer.from('<!doctype html><html><body><script>alert(document.domain)</script></body></html>');

/** Bytes that start with no accepted signature (the first byte is never 0xff, 0x89, R, G, I, M or 0). */
export function noise(length: number, first = 0x42): Buffer {
  const bytes = randomBytes(length);
  bytes[0] = first;
  return bytes;
}

export interface Part {
  readonly field: string;
  readonly filename?: string;
  readonly contentType?: string;
  readonly data: Buffer | string;
}

export const BOUNDARY = 'hardening-boundary-7f3a';

/** A multipart/form-data body built byte for byte, for inject: { payload, headers }. */
export function multipartBody(
  parts: readonly Part[],
  options: { close?: boolean } = {},
): { payload: Buffer; headers: Record<string, string> } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const filename = part.filename === undefined ? '' : `; filename="${part.filename}"`;
    const type = part.contentType === undefined ? '' : `\r\nContent-Type: ${part.contentType}`;
    chunks.push(
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.field}"${filename}${type}\r\n\r\n`),
    );
    chunks.push(Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data));
    chunks.push(Buffer.from('\r\n'));
  }
  if (options.close !== false) chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } };
}
