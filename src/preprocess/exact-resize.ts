// torchvision's Resize + CenterCrop on a PIL image, to the same bytes: Pillow's antialiased
// bilinear resize (Resample.c, 8 bits per channel) computed only for the crop window. The
// coefficients are Pillow's, computed here; the two passes (horizontal into rounded 8-bit rows,
// then vertical, as Pillow makes them) run in WebAssembly SIMD (resample.wat, assembled into
// resample.wasm by `npm run build:wasm`), about 6x faster than the same loops in JavaScript.
// Each output pixel depends only on its own taps, so the window alone equals the whole resize
// cropped afterwards.
import type { RgbImage } from './decode.ts';
import type { ResizePlan } from './geometry.ts';
import { wasmExports, type WasmMemory } from './wasm.ts';

/** Pillow's fixed point for 8-bit images: 32 - 8 - 2 bits. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;

/** One axis of a resize: for each output index, its first input index, tap count and weights. */
export interface AxisCoefficients {
  readonly first: Int32Array;
  readonly count: Int32Array;
  /** Fixed-point weights, `taps` per output index (the unused ones 0). */
  readonly weights: Int32Array;
  readonly taps: number;
}

const bilinear = (x: number): number => {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
};

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc (bilinear, support 1) for the output
 * indices [from, from + length) of an inSize -> outSize resize.
 */
export function axisCoefficients(inSize: number, outSize: number, from: number, length: number): AxisCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(length);
  const count = new Int32Array(length);
  const weights = new Int32Array(length * taps);
  const raw = new Float64Array(taps);
  for (let i = 0; i < length; i++) {
    const center = (from + i + 0.5) * scale;
    // C's (int) cast truncates toward zero.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bilinear((x + xmin - center + 0.5) / filterScale);
      raw[x] = w;
      sum += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? (raw[x] ?? 0) / sum : (raw[x] ?? 0);
      weights[i * taps + x] = Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE);
    }
    first[i] = xmin;
    count[i] = xmax;
  }
  return { first, count, weights, taps };
}

interface ResampleExports {
  readonly memory: WasmMemory;
  horizontal(...args: number[]): void;
  vertical(...args: number[]): void;
}

let instance: ResampleExports | undefined;

/** Loads may read, and stores write, up to 15 bytes past an area: each area gets this slack. */
const SLACK = 16;
const align = (n: number) => (n + SLACK + 15) & ~15;

/**
 * The plan's crop window of `rgb` resized to the plan's size with Pillow's bilinear filter:
 * crop x crop x 3 bytes, HWC (a new array). `rgb` is the whole image, interleaved 8-bit RGB.
 */
export function resizeCropExact(rgb: RgbImage, plan: ResizePlan): Uint8Array {
  const { data, width, height } = rgb;
  const { crop, left, top } = plan;
  const horizontal = axisCoefficients(width, plan.width, left, crop);
  const vertical = axisCoefficients(height, plan.height, top, crop);
  // Only the input rows that the window's vertical taps read go through the horizontal pass.
  const rowFirst = vertical.first[0] ?? 0;
  const rows = (vertical.first[crop - 1] ?? 0) + (vertical.count[crop - 1] ?? 0) - rowFirst;
  const rowBytes = width * 3;
  const stride = crop * 3;
  const verticalFirst = vertical.first.map((row) => row - rowFirst);

  const src = 0;
  const temp = src + align(rows * rowBytes);
  const out = temp + align(rows * stride);
  const tables = out + align(crop * stride);
  const tableBytes = 4 * (2 * crop + horizontal.weights.length) + 4 * (2 * crop + vertical.weights.length);

  const wasm = (instance ??= wasmExports<ResampleExports>('resample.wasm'));
  const { memory } = wasm;
  const needed = tables + tableBytes;
  if (needed > memory.buffer.byteLength) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / 65536));
  const bytes = new Uint8Array(memory.buffer);
  const words = new Int32Array(memory.buffer);
  bytes.set(data.subarray(rowFirst * rowBytes, (rowFirst + rows) * rowBytes), src);
  // Each table goes after the previous one; place() returns where it went.
  let at = tables;
  const place = (table: Int32Array): number => {
    words.set(table, at / 4);
    at += 4 * table.length;
    return at - 4 * table.length;
  };
  const h = [place(horizontal.first), place(horizontal.count), place(horizontal.weights)] as const;
  const v = [place(verticalFirst), place(vertical.count), place(vertical.weights)] as const;
  wasm.horizontal(src, rowBytes, rows, ...h, horizontal.taps, crop, temp);
  wasm.vertical(temp, stride, crop, ...v, vertical.taps, out);
  return bytes.slice(out, out + crop * stride);
}
