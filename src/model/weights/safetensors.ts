// The safetensors format (huggingface/safetensors, docs "Format"): an 8-byte little-endian u64
// header size N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
// {str: str}}, then the raw little-endian tensor bytes, offsets relative to the data section.
// Files come from users, so every header field is checked before any byte is used.

export const SAFETENSORS_DTYPES = { F32: 4, F16: 2, BF16: 2 } as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;
/** The reference implementation refuses headers over 100 MB (safetensors' MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafeTensor {
  readonly name: string;
  /** As written in the header; values outside SAFETENSORS_DTYPES are kept so errors can name them. */
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

export class SafetensorsFormatError extends Error {
  readonly code = 'SAFETENSORS_INVALID';
  constructor(message: string) {
    super(`Invalid safetensors file: ${message}`);
    this.name = 'SafetensorsFormatError';
  }
}

const ITEM_BYTES: Record<string, number> = {
  ...SAFETENSORS_DTYPES,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U16: 2,
  U32: 4,
  U64: 8,
};

export function parseSafetensors(file: Uint8Array): { tensors: SafeTensor[]; metadata: Record<string, string> } {
  if (file.length < 8) throw new SafetensorsFormatError(`${file.length} bytes is shorter than the 8-byte header size`);
  const headerBytes = new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true);
  if (headerBytes > BigInt(Math.min(MAX_HEADER_BYTES, file.length - 8))) {
    throw new SafetensorsFormatError(
      `header size ${headerBytes} exceeds the file (${file.length} bytes) or ${MAX_HEADER_BYTES} bytes`,
    );
  }
  const n = Number(headerBytes);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + n)));
  } catch (err) {
    throw new SafetensorsFormatError(`header is not UTF-8 JSON (${(err as Error).message})`);
  }
  if (!isRecord(header)) throw new SafetensorsFormatError('header is not a JSON object');
  const data = file.subarray(8 + n);
  const tensors: SafeTensor[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') metadata = checkMetadata(entry);
    else tensors.push(checkTensor(name, entry, data));
  }
  checkNoOverlap(tensors, data);
  return { tensors, metadata };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkMetadata(entry: unknown): Record<string, string> {
  if (!isRecord(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
    throw new SafetensorsFormatError('__metadata__ must map strings to strings');
  }
  return entry as Record<string, string>;
}

function checkTensor(name: string, entry: unknown, data: Uint8Array): SafeTensor {
  if (!isRecord(entry)) throw new SafetensorsFormatError(`entry ${name} is not an object`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string' || !(dtype in ITEM_BYTES))
    throw new SafetensorsFormatError(`tensor ${name} has unknown dtype ${String(dtype)}`);
  const isSize = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!Array.isArray(shape) || !shape.every(isSize))
    throw new SafetensorsFormatError(`tensor ${name} has an invalid shape`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize)) {
    throw new SafetensorsFormatError(`tensor ${name} has invalid data_offsets`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > data.length)
    throw new SafetensorsFormatError(
      `tensor ${name} data [${begin}, ${end}) lies outside the ${data.length}-byte data section`,
    );
  const expected = shape.reduce((a: number, b: number) => a * b, 1) * (ITEM_BYTES[dtype] ?? 0);
  if (end - begin !== expected)
    throw new SafetensorsFormatError(`tensor ${name} has ${end - begin} bytes, its dtype and shape need ${expected}`);
  return { name, dtype, shape, bytes: data.subarray(begin, end) };
}

function checkNoOverlap(tensors: SafeTensor[], data: Uint8Array): void {
  const spans = tensors.map((t) => ({
    name: t.name,
    begin: t.bytes.byteOffset - data.byteOffset,
    end: t.bytes.byteOffset - data.byteOffset + t.bytes.length,
  }));
  spans.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur.begin < prev.end) throw new SafetensorsFormatError(`tensors ${prev.name} and ${cur.name} overlap`);
  }
}

let halfTable: Float32Array | undefined;

/** IEEE 754 binary16 -> float32 for all 65536 bit patterns (subnormals, inf and NaN included). */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    halfTable[h] =
      exp === 0
        ? sign * frac * 2 ** -24
        : exp === 31
          ? frac
            ? NaN
            : sign * Infinity
          : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return halfTable;
}

/** Decodes a F32, F16 or BF16 tensor into a new float32 array (the data is little-endian). */
export function toFloat32(tensor: SafeTensor): Float32Array {
  const view = new DataView(tensor.bytes.buffer, tensor.bytes.byteOffset, tensor.bytes.byteLength);
  switch (tensor.dtype) {
    case 'F32': {
      // Copy (not Buffer#slice, which returns a view) into fresh, 4-byte-aligned memory.
      const copy = new Uint8Array(tensor.bytes.length);
      copy.set(tensor.bytes);
      return new Float32Array(copy.buffer);
    }
    case 'F16': {
      const table = halfToFloatTable();
      const out = new Float32Array(tensor.bytes.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = table[view.getUint16(2 * i, true)] ?? 0;
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const bits = new Uint32Array(tensor.bytes.length / 2);
      for (let i = 0; i < bits.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return new Float32Array(bits.buffer);
    }
    default:
      throw new SafetensorsFormatError(
        `tensor ${tensor.name} has dtype ${tensor.dtype}; only F32, F16 and BF16 are supported`,
      );
  }
}

/** Writes a safetensors file (tests, and converting other formats). Tensors are F32 unless given bytes. */
export function encodeSafetensors(
  tensors: readonly { name: string; dtype?: string; shape: readonly number[]; data: Float32Array | Uint8Array }[],
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype ?? 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
