// The exact resize: its WebAssembly passes give the bytes of the plain JavaScript transcription of Pillow's loops on shapes the fixtures miss
// (odd crops whose rows are no multiple of 16 bytes, factors up to 8, one-pixel strips). Against
// Pillow itself: parity.test.ts compares the fixtures' crops byte for byte.
import { describe, expect, it } from 'vitest';
import { resizeCropExact } from '../../src/preprocess/exact-resize.ts';
import { planResize } from '../../src/preprocess/geometry.ts';
import { IMAGENET_PRESET } from '../../src/preprocess/preset.ts';
import { referenceResizeCrop } from './pil-resample-reference.ts';

function noise(width: number, height: number, seed: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  let state = seed;
  for (let i = 0; i < out.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    // Smooth gradients plus noise, with runs of 0 and 255 so the clamps are reached.
    const base = ((i / 3) % width) * 2 + Math.floor(i / 3 / width);
    out[i] = Math.min(255, Math.max(0, (base % 320) - 32 + (state >>> 28)));
  }
  return out;
}

describe('resizeCropExact', () => {
  const SHAPES: [number, number, number, number][] = [
    // width, height, resize, crop
    [500, 375, 256, 224],
    [375, 500, 256, 224],
    [301, 257, 256, 224],
    [97, 61, 40, 37],
    [1000, 130, 64, 57],
    [410, 405, 50, 41],
    [2048, 17, 9, 5],
    [17, 2048, 9, 9],
  ];
  it.each(SHAPES)('%ix%i resized to %i and cropped to %i gives the reference bytes', (width, height, resize, crop) => {
    const plan = planResize(width, height, { ...IMAGENET_PRESET, resize, crop });
    expect(plan.direction).toBe('down');
    const rgb = noise(width, height, width * 31 + height);
    const ours = resizeCropExact({ data: rgb, width, height }, plan);
    expect(ours.length).toBe(crop * crop * 3);
    expect(Buffer.compare(Buffer.from(ours), Buffer.from(referenceResizeCrop(rgb, width, height, plan)))).toBe(0);
  });

  it('a shape after a larger one does not read what the larger one left in memory', () => {
    const plan = (w: number, h: number) => planResize(w, h, { ...IMAGENET_PRESET, resize: 40, crop: 33 });
    resizeCropExact({ data: noise(900, 700, 1), width: 900, height: 700 }, plan(900, 700));
    const rgb = noise(60, 45, 2);
    expect(Buffer.from(resizeCropExact({ data: rgb, width: 60, height: 45 }, plan(60, 45)))).toEqual(
      Buffer.from(referenceResizeCrop(rgb, 60, 45, plan(60, 45))),
    );
  });
});
