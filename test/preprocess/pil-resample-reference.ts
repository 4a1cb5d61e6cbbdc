// Pillow's two resize passes written plainly in JavaScript, the oracle that the WebAssembly passes
// of src/preprocess/exact-resize.ts are checked against on sizes the fixtures do not cover.
import { axisCoefficients, type AxisCoefficients } from '../../src/preprocess/exact-resize.ts';
import type { ResizePlan } from '../../src/preprocess/geometry.ts';

const at = (array: ArrayLike<number>, i: number): number => {
  const value = array[i];
  if (value === undefined) throw new RangeError(`index ${i} outside ${array.length}`);
  return value;
};

const clip8 = (acc: number): number => Math.min(255, Math.max(0, Math.floor(acc / 2 ** 22)));

/** One output sample: Pillow's sum from one half, over `axis` taps of output i, reading input j at read(j). */
function sample(axis: AxisCoefficients, i: number, read: (j: number) => number): number {
  let acc = 2 ** 21;
  for (let t = 0; t < at(axis.count, i); t++) acc += read(at(axis.first, i) + t) * at(axis.weights, i * axis.taps + t);
  return clip8(acc);
}

/** The plan's crop of `rgb` (width x height, HWC): horizontal pass into 8-bit rows, then vertical. */
export function referenceResizeCrop(rgb: Uint8Array, width: number, height: number, plan: ResizePlan): Uint8Array {
  const { crop } = plan;
  const horizontal = axisCoefficients(width, plan.width, plan.left, crop);
  const vertical = axisCoefficients(height, plan.height, plan.top, crop);
  const rows = new Map<number, Uint8Array>();
  const row = (y: number): Uint8Array => {
    let out = rows.get(y);
    if (out === undefined) {
      out = new Uint8Array(crop * 3);
      for (let x = 0; x < crop; x++)
        for (let c = 0; c < 3; c++) out[x * 3 + c] = sample(horizontal, x, (j) => at(rgb, (y * width + j) * 3 + c));
      rows.set(y, out);
    }
    return out;
  };
  const out = new Uint8Array(crop * crop * 3);
  for (let y = 0; y < crop; y++)
    for (let i = 0; i < crop * 3; i++) out[y * crop * 3 + i] = sample(vertical, y, (j) => at(row(j), i));
  return out;
}
