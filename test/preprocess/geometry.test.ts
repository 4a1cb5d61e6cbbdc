import { describe, expect, it } from 'vitest';
import { planResize, roundHalfEven } from '../../src/preprocess/geometry.ts';
import { IMAGENET_PRESET } from '../../src/preprocess/preset.ts';
import { loadReferenceSet } from './parity.ts';

describe('roundHalfEven', () => {
  it('rounds halves to the even neighbour, as Python 3 round() does', () => {
    expect([0.5, 1.5, 2.5, 16.5, 58.5, 59.5].map(roundHalfEven)).toEqual([0, 2, 2, 16, 58, 60]);
  });

  it('rounds everything else to the nearest integer', () => {
    expect([0, 3, 1.25, 1.75, 57.4].map(roundHalfEven)).toEqual([0, 3, 1, 2, 57]);
  });
});

describe('planResize', () => {
  it('makes the short side 256 and floors the long side (500x375 -> 341x256, crop at 58.5 -> 58)', () => {
    expect(planResize(500, 375, IMAGENET_PRESET)).toEqual({
      width: 341,
      height: 256,
      left: 58,
      top: 16,
      crop: 224,
      direction: 'down',
    });
  });

  it('plans portrait images with the width as the short side', () => {
    expect(planResize(300, 450, IMAGENET_PRESET)).toMatchObject({ width: 256, height: 384, left: 16, top: 80 });
  });

  it('upscales images whose short side is under 256', () => {
    expect(planResize(50, 200, IMAGENET_PRESET)).toMatchObject({ width: 256, height: 1024, direction: 'up' });
    expect(planResize(1, 1, IMAGENET_PRESET)).toMatchObject({
      width: 256,
      height: 256,
      left: 16,
      top: 16,
      direction: 'up',
    });
  });

  it('leaves an image whose short side is already 256 untouched, as torchvision returns it as is', () => {
    expect(planResize(256, 257, IMAGENET_PRESET)).toMatchObject({
      width: 256,
      height: 257,
      top: 16,
      direction: 'none',
    });
  });

  it('agrees with torchvision on the resize and crop of every committed fixture', () => {
    for (const image of loadReferenceSet().images) {
      const [width, height] = image.orientedSize;
      const plan = planResize(width, height, IMAGENET_PRESET);
      expect([plan.width, plan.height, plan.left, plan.top], image.file).toEqual([...image.resized, ...image.crop]);
    }
  });

  it('follows the preset: Resize(160) -> CenterCrop(128) on 640x480', () => {
    const preset = { ...IMAGENET_PRESET, resize: 160, crop: 128 };
    expect(planResize(640, 480, preset)).toEqual({
      width: 213,
      height: 160,
      left: 42,
      top: 16,
      crop: 128,
      direction: 'down',
    });
  });
});
