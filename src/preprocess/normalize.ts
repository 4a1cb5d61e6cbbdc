// The crop window of interleaved 8-bit RGB -> planar (CHW) float32, normalized, in one pass.
// Each channel's 256 possible values are computed once per preset with torchvision's float32
// arithmetic: ToTensor is x.float().div(255), Normalize is sub_(mean).div_(std) with mean and
// std as float32 tensors; Math.fround after each step gives the same single-precision results.
import type { PreprocessPreset } from './preset.ts';
import type { CropSource } from './resize.ts';

const tables = new WeakMap<PreprocessPreset, Float32Array>();

/** 3 x 256 normalized values, channel-major. */
export function normalizationTable(preset: PreprocessPreset): Float32Array {
  let table = tables.get(preset);
  if (table !== undefined) return table;
  table = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(preset.mean[c] as number);
    const std = Math.fround(preset.std[c] as number);
    for (let v = 0; v < 256; v++) {
      table[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
    }
  }
  tables.set(preset, table);
  return table;
}

/** Write the crop x crop window of `source` into `target` at `offset` as [3, crop, crop]. */
export function normalizeInto(
  source: CropSource,
  crop: number,
  preset: PreprocessPreset,
  target: Float32Array,
  offset: number,
): void {
  const table = normalizationTable(preset);
  const { data, width, height, left, top } = source;
  if (left < 0 || top < 0 || left + crop > width || top + crop > height || data.length < width * height * 3) {
    throw new RangeError(`Crop ${crop} at (${left}, ${top}) does not fit a ${width}x${height} RGB image`);
  }
  const plane = crop * crop;
  let g = offset + plane;
  let b = offset + 2 * plane;
  let r = offset;
  for (let y = 0; y < crop; y++) {
    let i = ((top + y) * width + left) * 3;
    for (let x = 0; x < crop; x++, i += 3) {
      target[r++] = table[data[i] as number] as number;
      target[g++] = table[256 + (data[i + 1] as number)] as number;
      target[b++] = table[512 + (data[i + 2] as number)] as number;
    }
  }
}
