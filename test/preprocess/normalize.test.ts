import { describe, expect, it } from 'vitest';
import { cmykToRgb } from '../../src/preprocess/colour.ts';
import { normalizationTable, normalizeInto } from '../../src/preprocess/normalize.ts';
import { IMAGENET_PRESET } from '../../src/preprocess/preset.ts';
import { IMAGES_DIR, loadReferenceSet, referenceTensor } from './parity.ts';

describe('normalizationTable', () => {
  it('maps 0 and 255 to (0 - mean) / std and (1 - mean) / std per channel', () => {
    const table = normalizationTable(IMAGENET_PRESET);
    for (let c = 0; c < 3; c++) {
      const [mean, std] = [IMAGENET_PRESET.mean[c] as number, IMAGENET_PRESET.std[c] as number];
      expect(table[c * 256]).toBeCloseTo(-mean / std, 6);
      expect(table[c * 256 + 255]).toBeCloseTo((1 - mean) / std, 6);
    }
  });

  it("reproduces torch's own normalized values at the sampled points of every reference", async () => {
    for (const image of loadReferenceSet().images) {
      const tensor = await referenceTensor(IMAGES_DIR + image.reference);
      for (const { c, y, x, value } of image.samples) {
        expect(tensor[c * 224 * 224 + y * 224 + x], `${image.file} c${c} y${y} x${x}`).toBe(Math.fround(value));
      }
      const sum = tensor.reduce((acc, v) => acc + v, 0);
      expect(Math.abs(sum - image.tensorSum), image.file).toBeLessThan(1e-3);
    }
  });
});

describe('normalizeInto', () => {
  // A 4x3 RGB image whose bytes are 0, 1, 2, ...: pixel (x, y) channel c holds (y * 4 + x) * 3 + c.
  const data = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => i);
  const source = { data, width: 4, height: 3, left: 1, top: 1 };
  const table = normalizationTable(IMAGENET_PRESET);

  it('writes the crop window planar (CHW) at the slot offset and nothing outside it', () => {
    const target = new Float32Array(3 + 3 * 4 + 2).fill(99);
    normalizeInto(source, 2, IMAGENET_PRESET, target, 3);
    const byte = (x: number, y: number, c: number) => (y * 4 + x) * 3 + c;
    const expected = [0, 1, 2].flatMap((c) =>
      [
        [1, 1],
        [2, 1],
        [1, 2],
        [2, 2],
      ].map(([x, y]) => table[c * 256 + byte(x as number, y as number, c)]),
    );
    expect(Array.from(target.subarray(3, 15))).toEqual(expected);
    expect(Array.from(target.subarray(0, 3))).toEqual([99, 99, 99]);
    expect(Array.from(target.subarray(15))).toEqual([99, 99]);
  });

  // 16 pixels at a time in WebAssembly, the rest by table: both must be the table's values exactly.
  it.each([
    ['the ImageNet preset', IMAGENET_PRESET],
    ['another mean and std', { ...IMAGENET_PRESET, mean: [0.3, 0.61, 0.07], std: [0.71, 0.19, 0.93] } as const],
  ])('gives the table value of every byte in every channel, in groups and after them (%s)', (_, preset) => {
    // A 31x26 image whose 17x17 window at (9, 4) holds every byte value in each channel:
    // 289 pixels are 18 groups of 16 and one after them.
    const [width, height, crop, left, top] = [31, 26, 17, 9, 4];
    const image = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 7) & 255);
    for (let p = 0; p < crop * crop; p++) {
      const at = ((top + Math.floor(p / crop)) * width + left + (p % crop)) * 3;
      for (let c = 0; c < 3; c++) image[at + c] = (p + 101 * c) & 255;
    }
    const target = new Float32Array(2 + 3 * crop * crop);
    normalizeInto({ data: image, width, height, left, top }, crop, preset, target, 2);
    const lookup = normalizationTable(preset);
    const seen = [new Set<number>(), new Set<number>(), new Set<number>()];
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < crop * crop; p++) {
        const byte = image[((top + Math.floor(p / crop)) * width + left + (p % crop)) * 3 + c] as number;
        seen[c]?.add(byte);
        expect(target[2 + c * crop * crop + p], `channel ${c} pixel ${p}`).toBe(lookup[c * 256 + byte]);
      }
    }
    expect(seen.map((values) => values.size)).toEqual([256, 256, 256]);
  });

  it('refuses a crop window that does not fit the image', () => {
    const target = new Float32Array(3 * 9);
    expect(() => normalizeInto(source, 3, IMAGENET_PRESET, target, 0)).toThrow(RangeError);
    expect(() => normalizeInto({ ...source, left: -1 }, 2, IMAGENET_PRESET, target, 0)).toThrow(RangeError);
  });
});

describe('cmykToRgb', () => {
  it("matches PIL 9.4's convert('RGB') on CMYK (values read back from PIL)", () => {
    // PIL: CMYK (95,131,194,218) -> RGB (23,18,9); (0,0,0,0) -> white; any K=255 -> black.
    const cmyk = Uint8Array.from([95, 131, 194, 218, 0, 0, 0, 0, 10, 200, 30, 255, 255, 255, 255, 0]);
    expect(Array.from(cmykToRgb(cmyk))).toEqual([23, 18, 9, 255, 255, 255, 0, 0, 0, 0, 0, 0]);
  });
});
