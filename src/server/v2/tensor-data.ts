// Tensor data of the Open Inference Protocol: JSON `data` (flat or nested, row-major) and the
// binary tensor data extension (little-endian, row-major, no padding; a BYTES element is a 4-byte
// little-endian length followed by its bytes). kserve docs/predict-api/v2/required_api.md
// ("Tensor Data"), Triton docs/protocol/extension_binary_data.md.
import { errors } from '../../errors.ts';

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/**
 * Flattens JSON tensor data into `out`. Nested data must follow the shape exactly; flat data must
 * hold exactly out.length numbers.
 */
export function flattenNumbers(data: unknown, shape: readonly number[], out: Float32Array, name: string): void {
  if (!Array.isArray(data)) throw errors.INVALID_TENSOR(`"${name}" data must be an array`);
  const nested = data.length > 0 && Array.isArray(data[0]);
  let written = 0;
  const visit = (value: unknown, depth: number): void => {
    if (depth < shape.length && nested) {
      if (!Array.isArray(value) || value.length !== shape[depth]) {
        throw errors.INVALID_TENSOR(
          `"${name}" nested data does not match shape [${shape.join(',')}] at depth ${depth}`,
        );
      }
      for (const item of value) visit(item, depth + 1);
      return;
    }
    // Non-finite input (1e400, or 1e39 past float32) makes NaN outputs, which JSON can only send as null.
    if (typeof value !== 'number' || !Number.isFinite(Math.fround(value)))
      throw errors.INVALID_TENSOR(`"${name}" data must hold finite float32 numbers only`);
    if (written === out.length)
      throw errors.INVALID_TENSOR(`"${name}" holds more than the ${out.length} elements of its shape`);
    out[written++] = value;
  };
  if (nested) visit(data, 0);
  else for (const value of data) visit(value, shape.length);
  if (written !== out.length)
    throw errors.INVALID_TENSOR(`"${name}" holds ${written} elements; its shape needs ${out.length}`);
}

/** Copies little-endian FP32 bytes into a new (aligned) Float32Array. */
export function readFloat32(bytes: Uint8Array, count: number, name: string): Float32Array {
  if (bytes.length !== count * 4) {
    throw errors.INVALID_TENSOR(`"${name}" has ${bytes.length} bytes of binary data; its shape needs ${count * 4}`);
  }
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) {
    const value = view.getFloat32(i * 4, true);
    if (!Number.isFinite(value)) throw errors.INVALID_TENSOR(`"${name}" holds a NaN or infinite value at element ${i}`);
    out[i] = value;
  }
  return out;
}

/** Splits binary BYTES data into its elements. */
export function readBytesElements(bytes: Uint8Array, count: number, name: string): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length)
      throw errors.INVALID_TENSOR(`"${name}" binary BYTES data ends inside a length prefix`);
    const length = view.getUint32(offset, true);
    offset += 4;
    if (offset + length > bytes.length)
      throw errors.INVALID_TENSOR(`"${name}" binary BYTES element ${elements.length} runs past the data`);
    elements.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  if (elements.length !== count)
    throw errors.INVALID_TENSOR(`"${name}" holds ${elements.length} BYTES elements; its shape needs ${count}`);
  return elements;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian FP32 bytes of a tensor: a view on little-endian platforms (all supported ones), else a copy. */
export function float32Bytes(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  values.forEach((value, i) => view.setFloat32(i * 4, value, true));
  return out;
}

/** BYTES elements in the binary extension's layout. */
export function encodeBytesElements(elements: readonly string[]): Buffer {
  const encoded = elements.map((element) => Buffer.from(element, 'utf8'));
  const out = Buffer.allocUnsafe(encoded.reduce((sum, e) => sum + 4 + e.length, 0));
  let offset = 0;
  for (const element of encoded) {
    out.writeUInt32LE(element.length, offset);
    element.copy(out, offset + 4);
    offset += 4 + element.length;
  }
  return out;
}
