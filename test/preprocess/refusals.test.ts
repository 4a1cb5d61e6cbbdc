// Every way an image is refused, with its stable code, under the process-wide settings the
// server uses (configureSharp: loaders restricted to the six accepted formats from memory).
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  configureSharp,
  IMAGENET_PRESET,
  preprocessImage,
  type PreprocessOptions,
} from '../../src/preprocess/index.ts';
import { manyFrameGif, png } from './crafted.ts';
import { fixtureBytes, IMAGES_DIR, sameFloats } from './parity.ts';

const OPTIONS: PreprocessOptions = { preset: IMAGENET_PRESET, maxImageBytes: 5_000_000, maxImagePixels: 40_000_000 };

const refusal = (code: string, statusCode: number) => expect.objectContaining({ code, statusCode });

/** Deterministic noise (a linear congruential generator), so a failure reproduces. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

/** A PNG that claims width x height RGB but carries a single row of data. */
const pngClaiming = (width: number, height: number) =>
  png({ width, height, bitDepth: 8, colourType: 2, pixels: new Uint8Array(3 * width), rowBytes: 3 * width });

beforeAll(() => {
  configureSharp({ concurrency: 1 });
});

describe('configureSharp', () => {
  it('refuses a concurrency that is not an integer >= 1', () => {
    expect(() => configureSharp({ concurrency: 0 })).toThrow(TypeError);
    expect(() => configureSharp({ concurrency: 1.5 })).toThrow(TypeError);
  });

  it('sets the libvips thread count and turns the operation cache off', () => {
    expect(sharp.concurrency()).toBe(1);
    expect(sharp.cache().items.max).toBe(0);
  });

  it('leaves libvips no way to read a file path or render SVG, even when called directly', async () => {
    await expect(sharp(`${IMAGES_DIR}odd-333x257.png`).raw().toBuffer()).rejects.toThrow(/unsupported image format/);
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>',
    );
    await expect(sharp(svg).raw().toBuffer()).rejects.toThrow(/unsupported image format/);
  });

  it('keeps all six accepted formats decodable from memory', async () => {
    const avif = await sharp(fixtureBytes('odd-333x257.png')).avif({ lossless: true }).toBuffer();
    const inputs = [
      'landscape-500x375.jpg',
      'odd-333x257.png',
      'lossy-400x300.webp',
      'still-320x240.gif',
      'deflate-300x280.tiff',
    ].map(fixtureBytes);
    for (const bytes of [...inputs, avif]) expect((await preprocessImage(bytes, OPTIONS)).length).toBe(3 * 224 * 224);
  });
});

describe('IMAGE_UNDECODABLE (400)', () => {
  it('for empty input', async () => {
    await expect(preprocessImage(new Uint8Array(0), OPTIONS)).rejects.toEqual(refusal('IMAGE_UNDECODABLE', 400));
  });

  it('for a truncated JPEG (half of the file): an error, not a half-grey image', async () => {
    const jpeg = fixtureBytes('landscape-500x375.jpg');
    await expect(preprocessImage(jpeg.subarray(0, jpeg.length >> 1), OPTIONS)).rejects.toEqual(
      refusal('IMAGE_UNDECODABLE', 400),
    );
  });

  it('for a truncated PNG (half of the file)', async () => {
    const file = fixtureBytes('odd-333x257.png');
    await expect(preprocessImage(file.subarray(0, file.length >> 1), OPTIONS)).rejects.toEqual(
      refusal('IMAGE_UNDECODABLE', 400),
    );
  });

  it('for truncated images that take the full-decode paths (alpha PNG, CMYK JPEG, tiny upscaled JPEG)', async () => {
    for (const file of ['alpha-320x280.png', 'cmyk-320x240.jpg', 'tiny-64x48.jpg']) {
      const bytes = fixtureBytes(file);
      await expect(preprocessImage(bytes.subarray(0, bytes.length >> 1), OPTIONS), file).rejects.toEqual(
        refusal('IMAGE_UNDECODABLE', 400),
      );
    }
  });

  it('for a PNG whose image data fails its checksum', async () => {
    const file = Buffer.from(fixtureBytes('grey-200x150.png'));
    const at = file.indexOf('IDAT') + 100;
    file[at] = (file[at] as number) ^ 0xff;
    await expect(preprocessImage(file, OPTIONS)).rejects.toEqual(refusal('IMAGE_UNDECODABLE', 400));
  });

  it('for noise behind a valid JPEG signature', async () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), noise(4000, 7)]);
    await expect(preprocessImage(bytes, OPTIONS)).rejects.toEqual(refusal('IMAGE_UNDECODABLE', 400));
  });
});

describe('UNSUPPORTED_IMAGE_FORMAT (415)', () => {
  it.each([
    ['random bytes', noise(4096, 1)],
    [
      'SVG',
      Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300"><image href="file:///etc/passwd"/></svg>',
      ),
    ],
    ['PDF', Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n')],
    ['BMP', Buffer.concat([Buffer.from('BM'), noise(200, 2)])],
    ['ICO', Buffer.concat([Buffer.from([0, 0, 1, 0, 1, 0]), noise(200, 3)])],
    ['HEIC', Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic\0\0\0\0mif1heic'), noise(200, 4)])],
  ])('for %s', async (_name, bytes) => {
    await expect(preprocessImage(bytes, OPTIONS)).rejects.toEqual(refusal('UNSUPPORTED_IMAGE_FORMAT', 415));
  });
});

describe('IMAGE_TOO_LARGE (413)', () => {
  it('when the bytes exceed MAX_IMAGE_BYTES, and not at exactly the limit', async () => {
    const jpeg = fixtureBytes('tiny-64x48.jpg');
    const over = preprocessImage(jpeg, { ...OPTIONS, maxImageBytes: jpeg.length - 1 });
    await expect(over).rejects.toEqual(refusal('IMAGE_TOO_LARGE', 413));
    expect((await preprocessImage(jpeg, { ...OPTIONS, maxImageBytes: jpeg.length })).length).toBe(3 * 224 * 224);
  });

  it('checks the byte limit before looking at the format', async () => {
    await expect(preprocessImage(noise(100, 5), { ...OPTIONS, maxImageBytes: 99 })).rejects.toEqual(
      refusal('IMAGE_TOO_LARGE', 413),
    );
  });
});

describe('IMAGE_TOO_MANY_PIXELS (413)', () => {
  it('for a PNG whose header claims 50000x50000: refused from the header, fast, without allocating the pixels', async () => {
    const bomb = pngClaiming(50_000, 50_000);
    expect(bomb.length).toBeLessThan(2_000);
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const result = preprocessImage(bomb, OPTIONS);
    await expect(result).rejects.toEqual(refusal('IMAGE_TOO_MANY_PIXELS', 413));
    await expect(result).rejects.toThrow(/2500000000 pixels; the limit is 40000000/);
    expect(performance.now() - started).toBeLessThan(500);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(50_000_000);
  });

  it('for a PNG one pixel over MAX_IMAGE_PIXELS, and not at exactly the limit', async () => {
    const file = fixtureBytes('odd-333x257.png');
    const over = preprocessImage(file, { ...OPTIONS, maxImagePixels: 333 * 257 - 1 });
    await expect(over).rejects.toEqual(refusal('IMAGE_TOO_MANY_PIXELS', 413));
    expect((await preprocessImage(file, { ...OPTIONS, maxImagePixels: 333 * 257 })).length).toBe(3 * 224 * 224);
  });

  it('for a GIF whose screen is over MAX_IMAGE_PIXELS', async () => {
    const gif = manyFrameGif(2000, 1000, 1);
    await expect(preprocessImage(gif, { ...OPTIONS, maxImagePixels: 1_999_999 })).rejects.toEqual(
      refusal('IMAGE_TOO_MANY_PIXELS', 413),
    );
  });
});

describe('multi-frame images', () => {
  it('decode only the first of 5000 GIF frames: the same tensor as the one-frame GIF, well under a second', async () => {
    const first = await preprocessImage(manyFrameGif(1000, 1000, 1), OPTIONS);
    const started = performance.now();
    const many = await preprocessImage(manyFrameGif(1000, 1000, 5000), OPTIONS);
    // Compositing all 5000 one-megapixel frames takes minutes; the first frame alone milliseconds.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(sameFloats(many, first)).toBe(true);
  });
});
