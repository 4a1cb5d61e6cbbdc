// Parity with torchvision: every committed fixture through preprocessImage, compared with the
// reference crop that scripts/fixtures/preprocess_reference.py made with PIL + torchvision.
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  IMAGENET_PRESET,
  normalizeInto,
  preprocessImage,
  preprocessPixels,
  SHRINK_ON_LOAD_MODES,
  type PreprocessOptions,
  type ShrinkOnLoad,
} from '../../src/preprocess/index.ts';
import { png } from './crafted.ts';
import {
  difference,
  fixtureBytes,
  IMAGES_DIR,
  loadReferenceSet,
  PARITY_BOUNDS,
  referenceTensor,
  sameFloats,
  type Difference,
} from './parity.ts';

const OPTIONS: PreprocessOptions = { preset: IMAGENET_PRESET, maxImageBytes: 20_000_000, maxImagePixels: 40_000_000 };
const PHOTO = 'photo-evening-glow-1680x1050.jpg';
const measured: { file: string; mode: string; size: string; d: Difference }[] = [];
const reference = loadReferenceSet();
const entry = (file: string) => {
  const found = reference.images.find((image) => image.file === file);
  if (found === undefined) throw new Error(`no reference for ${file}`);
  return found;
};

async function compare(bytes: Uint8Array, referenceFile: string, options = OPTIONS): Promise<Difference> {
  const ours = await preprocessImage(bytes, options);
  return difference(ours, await referenceTensor(IMAGES_DIR + entry(referenceFile).reference));
}

afterAll(() => {
  const rows = measured.map(
    ({ file, mode, size, d }) =>
      `| ${file} | ${mode} | ${size} | ${d.mean.toFixed(4)} | ${d.p99.toFixed(4)} | ${d.max.toFixed(4)} |`,
  );
  console.log(
    [
      '| image | PIL mode | size | mean abs diff | p99 abs diff | max abs diff |',
      '|---|---|---|---|---|---|',
      ...rows,
    ].join('\n'),
  );
});

describe('preprocessImage against torchvision (Resize 256, CenterCrop 224, ToTensor, Normalize)', () => {
  it.each(reference.images.map((image) => [image.file]))('%s stays within mean 0.02 and p99 0.15', async (file) => {
    const image = entry(file);
    const d = await compare(fixtureBytes(file), file);
    measured.push({ file, mode: image.pilMode, size: image.storedSize.join('x'), d });
    expect(d.mean).toBeLessThanOrEqual(PARITY_BOUNDS.mean);
    expect(d.p99).toBeLessThanOrEqual(PARITY_BOUNDS.p99);
  });

  it('reads AVIF (lossless, made from odd-333x257.png) as that PNG', async () => {
    const avif = await sharp(fixtureBytes('odd-333x257.png')).avif({ lossless: true }).toBuffer();
    const d = await compare(avif, 'odd-333x257.png');
    measured.push({ file: 'odd-333x257.avif (lossless, from the PNG)', mode: '-', size: '333x257', d });
    expect(d.mean).toBeLessThanOrEqual(PARITY_BOUNDS.mean);
    expect(d.p99).toBeLessThanOrEqual(PARITY_BOUNDS.p99);
  });

  const LARGE_JPEGS = ['large-1200x900.jpg', 'photo-evening-glow-1680x1050.jpg'];
  it.each(LARGE_JPEGS.flatMap((file) => SHRINK_ON_LOAD_MODES.map((mode): [string, ShrinkOnLoad] => [file, mode])))(
    'keeps %s within bounds with JPEG shrink-on-load %s',
    async (file, shrinkOnLoad) => {
      const d = await compare(fixtureBytes(file), file, { ...OPTIONS, shrinkOnLoad });
      const size = entry(file).storedSize.join('x');
      measured.push({ file: `${file}, shrink-on-load ${shrinkOnLoad}`, mode: 'RGB', size, d });
      expect(d.mean).toBeLessThanOrEqual(PARITY_BOUNDS.mean);
      expect(d.p99).toBeLessThanOrEqual(PARITY_BOUNDS.p99);
    },
  );
});

// Every downscale that decodes the image whole (all of them but JPEG shrink-on-load and images
// over EXACT_RESIZE_MAX_PIXELS) runs Pillow's own arithmetic: the crop is torchvision's, byte for byte.
const EXACT = reference.images.filter((image) => image.resized.some((side, i) => side < (image.orientedSize[i] ?? 0)));
describe('downscales that decode whole give the reference crop byte for byte', () => {
  it('covers the downscaled fixtures but the shrink-on-load photo', () => {
    expect(EXACT.map((image) => image.file)).toContain('landscape-500x375.jpg');
    expect(EXACT.length).toBeGreaterThanOrEqual(10);
  });
  it.each(EXACT.filter((image) => image.file !== PHOTO).map((image) => [image.file]))('%s', async (file) => {
    const ours = await preprocessPixels(fixtureBytes(file), OPTIONS);
    const theirs = await sharp(IMAGES_DIR + entry(file).reference)
      .raw()
      .toBuffer();
    expect(Buffer.compare(Buffer.from(ours), theirs)).toBe(0);
  });
  it('the photo too once shrink-on-load is off', async () => {
    const ours = await preprocessPixels(fixtureBytes(PHOTO), { ...OPTIONS, shrinkOnLoad: 'off' });
    expect(
      Buffer.compare(
        Buffer.from(ours),
        await sharp(IMAGES_DIR + entry(PHOTO).reference)
          .raw()
          .toBuffer(),
      ),
    ).toBe(0);
  });
});

describe("the service's path: the 8-bit crop, normalized where the engine's worker does it", () => {
  it.each(reference.images.map((image) => [image.file]))(
    '%s gives the tensor preprocessImage gives, bit for bit',
    async (file) => {
      const bytes = fixtureBytes(file);
      const pixels = await preprocessPixels(bytes, OPTIONS);
      expect(pixels).toHaveLength(224 * 224 * 3);
      const tensor = new Float32Array(3 * 224 * 224);
      normalizeInto({ data: pixels, width: 224, height: 224, left: 0, top: 0 }, 224, IMAGENET_PRESET, tensor, 0);
      expect(sameFloats(tensor, await preprocessImage(bytes, OPTIONS))).toBe(true);
    },
  );
});

describe('preprocessImage output', () => {
  it('writes into a batch slot at its offset, returns a view of it and leaves the neighbours alone', async () => {
    const bytes = fixtureBytes('landscape-500x375.jpg');
    const alone = await preprocessImage(bytes, OPTIONS);
    const length = 3 * 224 * 224;
    const batch = new Float32Array(3 * length).fill(7);
    const view = await preprocessImage(bytes, OPTIONS, { buffer: batch, offset: length });
    expect(view.buffer).toBe(batch.buffer);
    expect(view.byteOffset).toBe(length * 4);
    expect(sameFloats(batch.subarray(length, 2 * length), alone)).toBe(true);
    expect(batch.subarray(0, length).every((v) => v === 7)).toBe(true);
    expect(batch.subarray(2 * length).every((v) => v === 7)).toBe(true);
  });

  it('refuses a slot that cannot hold the tensor with a RangeError, before decoding', async () => {
    const bytes = fixtureBytes('landscape-500x375.jpg');
    const small = new Float32Array(3 * 224 * 224);
    await expect(preprocessImage(bytes, OPTIONS, { buffer: small, offset: 1 })).rejects.toThrow(RangeError);
    await expect(preprocessImage(new Uint8Array(0), OPTIONS, { buffer: small, offset: -1 })).rejects.toThrow(
      RangeError,
    );
  });

  it('reads bytes from a Uint8Array view into a larger buffer', async () => {
    const bytes = fixtureBytes('tiny-64x48.jpg');
    const padded = new Uint8Array(bytes.length + 20).fill(0xab);
    padded.set(bytes, 11);
    const view = padded.subarray(11, 11 + bytes.length);
    expect(sameFloats(await preprocessImage(view, OPTIONS), await preprocessImage(bytes, OPTIONS))).toBe(true);
  });

  it('follows the preset: crop 128 gives 3 x 128 x 128 values', async () => {
    const preset = { ...IMAGENET_PRESET, resize: 160, crop: 128 };
    const tensor = await preprocessImage(fixtureBytes('landscape-500x375.jpg'), { ...OPTIONS, preset });
    expect(tensor.length).toBe(3 * 128 * 128);
  });

  it('refuses a preset whose crop is larger than its resize', async () => {
    const preset = { ...IMAGENET_PRESET, resize: 200 };
    await expect(preprocessImage(fixtureBytes('tiny-64x48.jpg'), { ...OPTIONS, preset })).rejects.toThrow(TypeError);
  });

  it('turns a 16-bit greyscale PNG into its high byte (PIL 9.4 clips it to 255 instead: a documented divergence)', async () => {
    const [width, height] = [300, 280];
    const grey8 = (await sharp(fixtureBytes('deflate-300x280.tiff')).greyscale().raw().toBuffer()).subarray(
      0,
      width * height,
    );
    const grey16 = new Uint8Array(width * height * 2);
    grey8.forEach((v, i) => grey16.set([v, (i * 37) & 255], 2 * i));
    const ours16 = await preprocessImage(
      png({ width, height, bitDepth: 16, colourType: 0, pixels: grey16, rowBytes: 2 * width }),
      OPTIONS,
    );
    const ours8 = await preprocessImage(
      png({ width, height, bitDepth: 8, colourType: 0, pixels: grey8, rowBytes: width }),
      OPTIONS,
    );
    const d = difference(ours16, ours8);
    expect(d.mean).toBeLessThanOrEqual(0.005);
    expect(d.max).toBeLessThanOrEqual(0.05);
  });
});
