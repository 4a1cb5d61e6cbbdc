// Hand-made image files for the tests: exact control over headers, bit depths and frame counts.
import { crc32, deflateSync } from 'node:zlib';

function pngChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export interface PngSpec {
  readonly width: number;
  readonly height: number;
  readonly bitDepth: 8 | 16;
  /** 0 grey, 2 RGB, 6 RGBA. */
  readonly colourType: 0 | 2 | 6;
  /** Scanlines without filter bytes (big-endian samples for 16 bits); may be shorter than the header claims. */
  readonly pixels: Uint8Array;
  readonly rowBytes: number;
}

/** A PNG with filter type 0 on every row; `pixels` may hold fewer rows than the header claims. */
export function png(spec: PngSpec): Buffer {
  const { width, height, bitDepth, colourType, pixels, rowBytes } = spec;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, colourType, 0, 0, 0], 8);
  const rows: Uint8Array[] = [];
  for (let at = 0; at < pixels.length; at += rowBytes) rows.push(Uint8Array.of(0), pixels.subarray(at, at + rowBytes));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * A GIF89a with a black/white palette on a width x height screen and `frames` 1x1 frames:
 * the first one white at (0, 0), the others white scattered over the screen.
 */
export function manyFrameGif(width: number, height: number, frames: number): Buffer {
  const le = (n: number) => [n & 255, n >> 8];
  const out: number[] = [
    ...Buffer.from('GIF89a', 'latin1'),
    ...le(width),
    ...le(height),
    0x80,
    0,
    0,
    0,
    0,
    0,
    255,
    255,
    255,
  ];
  for (let i = 0; i < frames; i++) {
    const [x, y] = i === 0 ? [0, 0] : [(i * 37) % width, (i * 101) % height];
    // Image descriptor, then LZW data (min code size 2): clear, palette index 1, end = 0x4c 0x01.
    out.push(0x2c, ...le(x), ...le(y), ...le(1), ...le(1), 0, 2, 2, 0x4c, 0x01, 0);
  }
  out.push(0x3b);
  return Buffer.from(out);
}
