import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  encodeSafetensors,
  parseSafetensors,
  SafetensorsFormatError,
  toFloat32,
} from '../../../src/model/weights/safetensors.ts';
import { fixturePath, reference } from '../reference-fixtures.ts';
import { thrown } from '../thrown.ts';

const asNumbers = (values: (number | string)[]): number[] => values.map((v) => (typeof v === 'number' ? v : Number(v)));

/** A file with the given raw header text and data bytes. */
function fileWith(header: string | object | Uint8Array, data = new Uint8Array(0)): Uint8Array {
  const text =
    header instanceof Uint8Array
      ? header
      : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const formatError = (file: Uint8Array): SafetensorsFormatError =>
  thrown(SafetensorsFormatError, () => parseSafetensors(file));

describe('safetensors dtypes', () => {
  const { tensors } = parseSafetensors(readFileSync(fixturePath('dtypes.safetensors')));
  const byName = new Map(tensors.map((t) => [t.name, t]));

  it('reads F32 exactly as torch wrote it', () => {
    expect(Array.from(toFloat32(byName.get('f32')!))).toEqual(asNumbers(reference.dtypes.values).map(Math.fround));
  });

  it('decodes F16 (normal, subnormal, overflowed to infinity) to the floats torch gives', () => {
    expect(Array.from(toFloat32(byName.get('f16')!))).toEqual(asNumbers(reference.dtypes.f16AsFloat));
  });

  it('decodes BF16 to the floats torch gives', () => {
    expect(Array.from(toFloat32(byName.get('bf16')!))).toEqual(asNumbers(reference.dtypes.bf16AsFloat));
  });

  it('decodes F16 NaN and negative infinity bit patterns', () => {
    const bits = new Uint16Array([0x7e00, 0xfc00, 0x8001]);
    const {
      tensors: [t],
    } = parseSafetensors(
      encodeSafetensors([{ name: 'h', dtype: 'F16', shape: [3], data: new Uint8Array(bits.buffer) }]),
    );
    const [nan, negInf, negTiny] = Array.from(toFloat32(t!));
    expect(nan).toBeNaN();
    expect(negInf).toBe(-Infinity);
    expect(negTiny).toBe(-(2 ** -24));
  });

  it('refuses to convert other dtypes to float32', () => {
    const file = encodeSafetensors([{ name: 'steps', dtype: 'I64', shape: [1], data: new Uint8Array(8) }]);
    expect(() => toFloat32(parseSafetensors(file).tensors[0]!)).toThrow(/dtype I64; only F32, F16 and BF16/);
  });

  it('round-trips through encodeSafetensors with metadata and 8-byte-aligned data', () => {
    const data = Float32Array.from([1, -2, 3.5, 0.25, 7, 8]);
    const file = encodeSafetensors([{ name: 'w', shape: [2, 3], data }], { format: 'pt' });
    const header = Number(new DataView(file.buffer).getBigUint64(0, true));
    expect((8 + header) % 8).toBe(0);
    const parsed = parseSafetensors(file);
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect(parsed.tensors[0]!.shape).toEqual([2, 3]);
    expect(Array.from(toFloat32(parsed.tensors[0]!))).toEqual(Array.from(data));
  });
});

describe('safetensors header validation (files come from users)', () => {
  const f32 = (shape: number[], offsets: [number, number]) => ({ dtype: 'F32', shape, data_offsets: offsets });

  it.each([
    ['a file shorter than the size field', new Uint8Array(5), /shorter than the 8-byte header size/],
    [
      'a header size beyond the end of the file',
      (() => {
        const f = fileWith({});
        new DataView(f.buffer).setBigUint64(0, 2n ** 40n, true);
        return f;
      })(),
      /header size 1099511627776 exceeds/,
    ],
    ['a header that is not JSON', fileWith('{"w": '), /not UTF-8 JSON/],
    [
      'a header that is not UTF-8',
      fileWith(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])),
      /not UTF-8 JSON/,
    ],
    ['a header that is a JSON array', fileWith('[1,2]'), /not a JSON object/],
    ['an entry that is not an object', fileWith({ w: 3 }), /entry w is not an object/],
    [
      'an unknown dtype',
      fileWith({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
      /unknown dtype F8/,
    ],
    ['a negative dimension', fileWith({ w: f32([-1], [0, 4]) }, new Uint8Array(4)), /invalid shape/],
    ['a fractional dimension', fileWith({ w: f32([1.5], [0, 4]) }, new Uint8Array(4)), /invalid shape/],
    [
      'offsets that are not a pair',
      fileWith({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, new Uint8Array(4)),
      /invalid data_offsets/,
    ],
    [
      'data past the end of the file',
      fileWith({ w: f32([2], [0, 8]) }, new Uint8Array(4)),
      /lies outside the 4-byte data section/,
    ],
    ['begin after end', fileWith({ w: f32([0], [4, 0]) }, new Uint8Array(4)), /lies outside/],
    [
      'a byte count that does not fit dtype and shape',
      fileWith({ w: f32([2], [0, 4]) }, new Uint8Array(8)),
      /has 4 bytes, its dtype and shape need 8/,
    ],
    [
      'overlapping tensors',
      fileWith({ a: f32([2], [0, 8]), b: f32([2], [4, 12]) }, new Uint8Array(12)),
      /tensors a and b overlap/,
    ],
    [
      'metadata that is not a string map',
      fileWith({ __metadata__: { n: 1 } }),
      /__metadata__ must map strings to strings/,
    ],
  ])('rejects %s', (_, file, message) => {
    const err = formatError(file);
    expect(err.code).toBe('SAFETENSORS_INVALID');
    expect(err.message).toMatch(message);
  });

  it('accepts an empty tensor and a scalar', () => {
    const { tensors } = parseSafetensors(fileWith({ e: f32([0, 3], [0, 0]), s: f32([], [0, 4]) }, new Uint8Array(4)));
    expect(tensors.map((t) => [t.name, t.bytes.length])).toEqual([
      ['e', 0],
      ['s', 4],
    ]);
  });
});
