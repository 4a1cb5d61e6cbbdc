// The crop window of interleaved 8-bit RGB -> planar (CHW) float32, normalized, in one pass.
// Each channel's 256 possible values are computed once per preset with torchvision's float32
// arithmetic: ToTensor is x.float().div(255), Normalize is sub_(mean).div_(std) with mean and
// std as float32 tensors; Math.fround after each step gives the same single-precision results.
// normalizeInto computes the same values 16 pixels at a time in WebAssembly SIMD (normalize.wat):
// 0.11 against 0.25 ms for a 224 x 224 crop by table lookups in JavaScript (AMD EPYC Zen 4), which
// are left for the pixels after the last group of 16.
import type { PreprocessPreset } from './preset.ts';
import type { CropSource } from './resize.ts';
import { wasmExports, type WasmMemory } from './wasm.ts';

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

interface NormalizeExports {
  readonly memory: WasmMemory;
  normalize(src: number, groups: number, dst: number, planeBytes: number, consts: number): void;
}

let instance: NormalizeExports | undefined;

/** Pixels per step of normalize.wat. */
const GROUP = 16;
/** Bytes of normalize.wat's constants per channel: three swizzle masks, then mean and std four times. */
const CHANNEL_CONSTANTS = 80;
const constants = new WeakMap<PreprocessPreset, Uint8Array>();

/** normalize.wat's constants for a preset: channel c's bytes of a group are bytes 3 * lane + c. */
function simdConstants(preset: PreprocessPreset): Uint8Array {
  let out = constants.get(preset);
  if (out !== undefined) return out;
  out = new Uint8Array(3 * CHANNEL_CONSTANTS);
  const view = new DataView(out.buffer);
  for (let c = 0; c < 3; c++) {
    const at = c * CHANNEL_CONSTANTS;
    for (let lane = 0; lane < GROUP; lane++) {
      const byte = 3 * lane + c;
      // 0x80 (16 or more) makes swizzle give 0: the lane comes from another third.
      for (let third = 0; third < 3; third++) out[at + 16 * third + lane] = byte >> 4 === third ? byte & 15 : 0x80;
    }
    for (let i = 0; i < 4; i++) {
      view.setFloat32(at + 48 + 4 * i, preset.mean[c] as number, true);
      view.setFloat32(at + 64 + 4 * i, preset.std[c] as number, true);
    }
  }
  constants.set(preset, out);
  return out;
}

/** Write the crop x crop window of `source` into `target` at `offset` as [3, crop, crop]. */
export function normalizeInto(
  source: CropSource,
  crop: number,
  preset: PreprocessPreset,
  target: Float32Array,
  offset: number,
): void {
  const { data, width, height, left, top } = source;
  if (left < 0 || top < 0 || left + crop > width || top + crop > height || data.length < width * height * 3) {
    throw new RangeError(`Crop ${crop} at (${left}, ${top}) does not fit a ${width}x${height} RGB image`);
  }
  const plane = crop * crop;
  const grouped = plane - (plane % GROUP);
  if (grouped > 0) normalizeGroups(source, crop, preset, target, offset, grouped);
  const table = normalizationTable(preset);
  for (let p = grouped; p < plane; p++) {
    const i = ((top + Math.floor(p / crop)) * width + left + (p % crop)) * 3;
    target[offset + p] = table[data[i] as number] as number;
    target[offset + plane + p] = table[256 + (data[i + 1] as number)] as number;
    target[offset + 2 * plane + p] = table[512 + (data[i + 2] as number)] as number;
  }
}

/** The first `pixels` pixels of the window (a multiple of GROUP), in WebAssembly. */
function normalizeGroups(
  source: CropSource,
  crop: number,
  preset: PreprocessPreset,
  target: Float32Array,
  offset: number,
  pixels: number,
): void {
  const { data, width, left, top } = source;
  const plane = crop * crop;
  const consts = 0;
  const src = 3 * CHANNEL_CONSTANTS;
  const dst = (src + 3 * plane + 15) & ~15;
  const wasm = (instance ??= wasmExports<NormalizeExports>('normalize.wasm'));
  const { memory } = wasm;
  const needed = dst + 3 * 4 * plane;
  if (needed > memory.buffer.byteLength) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / 65536));
  const bytes = new Uint8Array(memory.buffer);
  bytes.set(simdConstants(preset), consts);
  const row = 3 * crop;
  if (left === 0 && width === crop) bytes.set(data.subarray(top * row, (top + crop) * row), src);
  else {
    for (let y = 0; y < crop; y++) {
      const from = ((top + y) * width + left) * 3;
      bytes.set(data.subarray(from, from + row), src + y * row);
    }
  }
  wasm.normalize(src, pixels / GROUP, dst, 4 * plane, consts);
  const floats = new Float32Array(memory.buffer, dst, 3 * plane);
  for (let c = 0; c < 3; c++) target.set(floats.subarray(c * plane, c * plane + pixels), offset + c * plane);
}
