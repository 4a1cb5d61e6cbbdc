// Limits on the repeated fields of a request message, checked on the protobuf wire before the
// message is decoded. Decoding turns every element of a repeated field into a JS value: a
// message of 2-byte empty sub-messages (or 2-byte BYTES elements, or 1-byte varints) would become
// tens of millions of objects from a few MB, far more memory than its size. Each limited field
// is counted here (its sub-messages recursively, packed varints by element) and the request is
// refused at the first field past its limit, before protobufjs allocates anything.
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { errors, isServiceError, type ServiceError } from '../../errors.ts';

export interface FieldLimit {
  /** Most occurrences (elements, for a packed field of varints). */
  readonly max: number;
  /** The error of a request past the limit. */
  readonly refuse: () => ServiceError;
  /** A message field: the limits of its own fields. */
  readonly fields?: WireLimits;
  /** Repeated varints (int64, bool, ...): a packed occurrence counts each element. */
  readonly varints?: boolean;
}

/** Limits by field number; fields not listed are unlimited (their size is bounded by the message's). */
export type WireLimits = Readonly<Record<number, FieldLimit>>;

/** Nesting deeper than this is refused (the request messages nest three levels). */
const MAX_DEPTH = 8;

/** Elements of a packed varint field: one per byte without the continuation bit. */
function varintCount(bytes: Uint8Array): number {
  let count = 0;
  for (const byte of bytes) if (byte < 0x80) count++;
  return count;
}

function scan(bytes: Uint8Array, limits: WireLimits, depth: number): void {
  if (depth > MAX_DEPTH) throw errors.MALFORMED_BODY('the message nests too deeply');
  const reader = new BinaryReader(bytes);
  const counts = new Map<number, number>();
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    const limit = limits[fieldNo];
    if (limit === undefined) {
      reader.skip(wireType, fieldNo);
      continue;
    }
    let elements = 1;
    if (wireType === WireType.LengthDelimited) {
      const data = reader.bytes();
      if (limit.varints) elements = varintCount(data);
      else if (limit.fields) scan(data, limit.fields, depth + 1);
    } else reader.skip(wireType, fieldNo);
    const total = (counts.get(fieldNo) ?? 0) + elements;
    if (total > limit.max) throw limit.refuse();
    counts.set(fieldNo, total);
  }
}

/**
 * Throws the limit's error for the first field past its limit, or MALFORMED_BODY when the bytes
 * are not a protobuf message.
 */
export function checkWireLimits(bytes: Uint8Array, limits: WireLimits): void {
  try {
    scan(bytes, limits, 0);
  } catch (err) {
    if (isServiceError(err)) throw err;
    throw errors.MALFORMED_BODY('the message is not valid protobuf');
  }
}
