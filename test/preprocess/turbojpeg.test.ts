// The libjpeg-turbo decoder (turbojpeg.ts) against libvips' decode of the same bytes: the same
// pixels for every JPEG it takes, and every image it does not decode cleanly handed back (the
// refusals themselves are libvips', in refusals.test.ts). CI installs libturbojpeg0 (.ci/run).
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configureJpegDecoder,
  configureSharp,
  IMAGENET_PRESET,
  preprocessPixels,
  type PreprocessOptions,
} from '../../src/preprocess/index.ts';
import { decodeJpegRgb, jpegDecoder } from '../../src/preprocess/turbojpeg.ts';
import { fixtureBytes } from './parity.ts';

const OPTIONS: PreprocessOptions = { preset: IMAGENET_PRESET, maxImageBytes: 20_000_000, maxImagePixels: 40_000_000 };

/** Upright 8-bit JPEGs: the ones the JavaScript header hands to libjpeg-turbo. */
const UPRIGHT = [
  'landscape-500x375.jpg',
  'portrait-300x450.jpg',
  'grey-300x300.jpg',
  'large-1200x900.jpg',
  'photo-evening-glow-1680x1050.jpg',
  'tiny-64x48.jpg',
];

/** libvips' full decode to 8-bit sRGB, as decode.ts asks sharp for it. */
async function libvipsRgb(bytes: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(bytes, { ignoreIcc: true, failOn: 'error' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

beforeAll(() => {
  configureSharp({ concurrency: 1 });
  expect(configureJpegDecoder('libjpeg-turbo')).toBe('libjpeg-turbo');
});

afterAll(() => {
  configureJpegDecoder('auto');
});

describe('decodeJpegRgb', () => {
  it.each(UPRIGHT)('decodes %s to the same RGB bytes as libvips', async (file) => {
    const bytes = fixtureBytes(file);
    const expected = await libvipsRgb(bytes);
    const decoded = await decodeJpegRgb(bytes, expected.width, expected.height);
    expect(decoded).toBeDefined();
    expect(decoded?.length).toBe(expected.data.length);
    expect(Buffer.from(decoded ?? []).equals(expected.data)).toBe(true);
  });

  it('decodes progressive and 4:4:4 JPEGs to the same bytes as libvips', async () => {
    const source = fixtureBytes('landscape-500x375.jpg');
    for (const options of [{ progressive: true }, { chromaSubsampling: '4:4:4' }, { quality: 30, progressive: true }]) {
      const bytes = await sharp(source).jpeg(options).toBuffer();
      const expected = await libvipsRgb(bytes);
      const decoded = await decodeJpegRgb(bytes, 500, 375);
      expect(Buffer.from(decoded ?? []).equals(expected.data)).toBe(true);
    }
  });

  it('hands back what it does not decode cleanly: truncated, corrupt, not a JPEG, another size', async () => {
    const jpeg = fixtureBytes('landscape-500x375.jpg');
    const corrupt = Buffer.from(jpeg);
    // Garbage in the middle of the entropy-coded data: libjpeg warns and fills in.
    corrupt.fill(0xff, jpeg.length >> 1, (jpeg.length >> 1) + 64);
    expect(await decodeJpegRgb(jpeg.subarray(0, jpeg.length >> 1), 500, 375)).toBeUndefined();
    expect(await decodeJpegRgb(corrupt, 500, 375)).toBeUndefined();
    expect(await decodeJpegRgb(fixtureBytes('odd-333x257.png'), 333, 257)).toBeUndefined();
    expect(await decodeJpegRgb(jpeg, 375, 500)).toBeUndefined();
    // The CMYK JPEG goes to libvips for PIL's conversion (decode.ts).
    expect(await decodeJpegRgb(fixtureBytes('cmyk-320x240.jpg'), 320, 240)).toBeUndefined();
  });

  it('decodes cleanly again after each kind of damaged upload (a failed handle is not reused)', async () => {
    const jpeg = fixtureBytes('landscape-500x375.jpg');
    const expected = (await libvipsRgb(jpeg)).data;
    // Damage in the quantization tables, the Huffman tables, the scan header and the entropy-coded data.
    for (const at of [38, 200, 400, 600, 1000, 5000, 20_000]) {
      const damaged = Buffer.from(jpeg);
      damaged[at] = 77;
      await decodeJpegRgb(damaged, 500, 375);
      expect(Buffer.from((await decodeJpegRgb(jpeg, 500, 375)) ?? []).equals(expected), `after byte ${at}`).toBe(true);
    }
  });

  it('on 300 damaged copies: every clean decode is what libvips decodes, and libvips refuses none of them', async () => {
    const jpeg = fixtureBytes('landscape-500x375.jpg');
    let state = 12345;
    const next = (n: number) => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 8) % n;
    let clean = 0;
    for (let i = 0; i < 300; i++) {
      const damaged = Buffer.from(jpeg);
      // The header segments (tables, frame and scan headers) in most cases, the entropy-coded data in the rest.
      for (let k = 1 + next(2); k > 0; k--) damaged[next(i % 4 === 0 ? jpeg.length : 700)] = next(256);
      const decoded = await decodeJpegRgb(damaged, 500, 375);
      if (decoded === undefined) continue;
      clean++;
      expect(Buffer.from(decoded).equals((await libvipsRgb(damaged)).data), `case ${i}`).toBe(true);
    }
    // Some damage leaves a valid JPEG (other quantization values): those must have been compared.
    expect(clean).toBeGreaterThan(30);
  });

  it('keeps many decodes in flight at once apart (one handle each)', async () => {
    const files = UPRIGHT.slice(0, 4);
    const expected = await Promise.all(files.map(async (file) => libvipsRgb(fixtureBytes(file))));
    const decoded = await Promise.all(
      Array.from({ length: 24 }, (_, i) => {
        const k = i % files.length;
        const { width, height } = expected[k] ?? { width: 0, height: 0 };
        return decodeJpegRgb(fixtureBytes(files[k] ?? ''), width, height);
      }),
    );
    decoded.forEach((data, i) =>
      expect(Buffer.from(data ?? []).equals(expected[i % files.length]?.data ?? Buffer.alloc(1))).toBe(true),
    );
  });
});

describe('configureJpegDecoder', () => {
  it("decodes nothing itself once set to 'sharp', and the crops stay the same", async () => {
    const bytes = fixtureBytes('landscape-500x375.jpg');
    const withTurbo = await preprocessPixels(bytes, OPTIONS);
    expect(configureJpegDecoder('sharp')).toBe('sharp');
    expect(jpegDecoder()).toBe('sharp');
    expect(await decodeJpegRgb(bytes, 500, 375)).toBeUndefined();
    const withSharp = await preprocessPixels(bytes, OPTIONS);
    expect(Buffer.from(withSharp).equals(Buffer.from(withTurbo))).toBe(true);
    expect(configureJpegDecoder('auto')).toBe('libjpeg-turbo');
  });

  it('gives every JPEG fixture the same crop with either decoder', async () => {
    for (const file of [...UPRIGHT, 'exif-orientation-6.jpg', 'cmyk-320x240.jpg']) {
      const bytes = fixtureBytes(file);
      configureJpegDecoder('libjpeg-turbo');
      const withTurbo = await preprocessPixels(bytes, OPTIONS);
      configureJpegDecoder('sharp');
      const withSharp = await preprocessPixels(bytes, OPTIONS);
      expect(Buffer.from(withSharp).equals(Buffer.from(withTurbo)), file).toBe(true);
    }
    configureJpegDecoder('libjpeg-turbo');
  });
});
