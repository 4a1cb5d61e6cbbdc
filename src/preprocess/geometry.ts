// Resize and crop geometry exactly as torchvision computes it (0.14, functional.py):
// Resize(size) makes the short side `size` and the long side int(size * long / short), i.e. floor;
// it returns the image untouched when that is already its size. CenterCrop(crop) offsets are
// int(round((side - crop) / 2.0)) with Python's round, which sends halves to even (58.5 -> 58):
// one pixel of offset costs ~15x in mean error against the reference.
import type { PreprocessPreset } from './preset.ts';

export type ResizeDirection = 'down' | 'up' | 'none';

export interface ResizePlan {
  /** Size after Resize, before the crop. */
  readonly width: number;
  readonly height: number;
  /** Top-left corner of the centred crop in the resized image. */
  readonly left: number;
  readonly top: number;
  readonly crop: number;
  readonly direction: ResizeDirection;
}

/** Python 3's round() for the values CenterCrop produces (integers and halves). */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

export function planResize(width: number, height: number, preset: PreprocessPreset): ResizePlan {
  const { resize, crop } = preset;
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  // Same double arithmetic as Python's int(size * long / short).
  const newLong = Math.trunc((resize * long) / short);
  const [newWidth, newHeight] = width <= height ? [resize, newLong] : [newLong, resize];
  const direction: ResizeDirection = short === resize ? 'none' : short < resize ? 'up' : 'down';
  return {
    width: newWidth,
    height: newHeight,
    left: roundHalfEven((newWidth - crop) / 2),
    top: roundHalfEven((newHeight - crop) / 2),
    crop,
    direction,
  };
}
