// Seeded, reproducible mutation of valid request bodies for `npm run fuzz`. Case i of seed s is
// always the same bytes: its generator is seeded from (s, i) alone, so one case can be re-made
// without replaying the run. Mutations: bit flips, interesting bytes, truncation, splices
// (a range repeated, removed or taken from another valid body) and header field edits (image
// width/height, multipart boundary and part headers, V2 JSON fields and the binary header length).
import { crc32 } from 'node:zlib';

/** mulberry32: small, fast, and the same everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  readonly #next: () => number;
  constructor(seed: number, caseIndex: number) {
    this.#next = prng(Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(caseIndex + 1, 0x85ebca6b));
  }
  float(): number {
    return this.#next();
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }
}

export const SEED_KINDS = ['jpeg', 'png', 'multipart', 'json', 'v2-json', 'v2-binary'] as const;
export type SeedKind = (typeof SEED_KINDS)[number];

/** A request as sent: path, headers and body. */
export interface FuzzRequest {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface FuzzCase extends FuzzRequest {
  readonly index: number;
  readonly kind: SeedKind;
  /** What was done to the valid body, in order (for the report and the saved case). */
  readonly mutations: readonly string[];
}

export type Corpus = Readonly<Record<SeedKind, FuzzRequest>>;

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe] as const;
const INTERESTING_DIMENSIONS = [0, 1, 2, 255, 256, 6000, 8000, 16_383, 16_384, 65_535] as const;

function flipBits(body: Buffer, rng: Rng): string {
  const flips = 1 + rng.int(8);
  for (let i = 0; i < flips; i++) {
    const at = rng.int(body.length);
    body[at] = (body[at] ?? 0) ^ (1 << rng.int(8));
  }
  return `flip ${flips} bits`;
}

function interestingBytes(body: Buffer, rng: Rng): string {
  const at = rng.int(body.length);
  const count = Math.min(1 + rng.int(4), body.length - at);
  body.fill(rng.pick(INTERESTING), at, at + count);
  return `set ${count} bytes at ${at}`;
}

/** Buffer-level mutations that return a new buffer (length changes). */
function reshape(body: Buffer, rng: Rng, corpus: Corpus): { body: Buffer; what: string } {
  const at = rng.int(body.length + 1);
  const length = 1 + rng.int(Math.max(1, Math.min(4096, body.length - at)));
  switch (rng.int(4)) {
    case 0:
      return { body: body.subarray(0, at), what: `truncate at ${at}` };
    case 1:
      return {
        body: Buffer.concat([body.subarray(0, at), body.subarray(at + length)]),
        what: `remove ${length} at ${at}`,
      };
    case 2:
      return {
        body: Buffer.concat([
          body.subarray(0, at + length),
          body.subarray(at, at + length),
          body.subarray(at + length),
        ]),
        what: `repeat ${length} at ${at}`,
      };
    default: {
      const donor = corpus[rng.pick(SEED_KINDS)].body;
      const from = rng.int(donor.length);
      const piece = donor.subarray(from, from + length);
      return {
        body: Buffer.concat([body.subarray(0, at), piece, body.subarray(at)]),
        what: `splice ${piece.length} at ${at}`,
      };
    }
  }
}

/** Rewrites a PNG's IHDR width/height (with a correct CRC, so the header is believed) or a JPEG's SOF. */
function editImageSize(body: Buffer, rng: Rng): string | undefined {
  const width = rng.pick(INTERESTING_DIMENSIONS);
  const height = rng.pick(INTERESTING_DIMENSIONS);
  const ihdr = body.indexOf('IHDR', 0, 'latin1');
  if (ihdr >= 4 && ihdr + 21 <= body.length) {
    body.writeUInt32BE(width, ihdr + 4);
    body.writeUInt32BE(height, ihdr + 8);
    body.writeUInt32BE(crc32(body.subarray(ihdr, ihdr + 17)), ihdr + 17);
    return `PNG size ${width}x${height}`;
  }
  for (let at = body.indexOf(0xff); at >= 0 && at + 9 < body.length; at = body.indexOf(0xff, at + 1)) {
    const marker = body[at + 1] ?? 0;
    if (marker >= 0xc0 && marker <= 0xc2) {
      body.writeUInt16BE(height, at + 5);
      body.writeUInt16BE(width, at + 7);
      return `JPEG size ${width}x${height}`;
    }
  }
  return undefined;
}

const JSON_EDITS: readonly [RegExp, readonly string[]][] = [
  [
    /"shape":\[[^\]]*\]/,
    [
      '"shape":[]',
      '"shape":[-1,3,224,224]',
      '"shape":[1e15,3,224,224]',
      '"shape":[2,3,224,224]',
      '"shape":"1"',
      '"shape":[1,3,224]',
    ],
  ],
  [
    /"datatype":"[A-Z0-9]+"/,
    ['"datatype":"FP16"', '"datatype":"BYTES"', '"datatype":"FP32"', '"datatype":null', '"datatype":"UINT8"'],
  ],
  [
    /"binary_data_size":\d+/,
    [
      '"binary_data_size":-1',
      '"binary_data_size":0',
      '"binary_data_size":1e30',
      '"binary_data_size":"4"',
      '"binary_data_size":4',
    ],
  ],
  [/"name":"[^"]*"/, ['"name":""', '"name":"../../etc/passwd"', '"name":null', '"name":"logits"']],
  [/"images":\[/, ['"images":[[', '"images":{', '"images":[null,', '"images":["!!!",']],
];

/** A textual edit of a JSON field, a multipart boundary or part header, or the binary header length. */
function editFields(
  request: { path: string; headers: Record<string, string>; body: Buffer },
  rng: Rng,
): string | undefined {
  const lengthHeader = 'Inference-Header-Content-Length';
  if (request.headers[lengthHeader] !== undefined && rng.int(2) === 0) {
    const value = rng.pick([
      '-1',
      '0',
      'abc',
      '1.5',
      String(request.body.length + 1),
      String(rng.int(request.body.length)),
      '',
    ]);
    request.headers[lengthHeader] = value;
    return `${lengthHeader}: ${JSON.stringify(value)}`;
  }
  const text = request.body.toString('latin1');
  const boundary = /boundary=(\S+)/.exec(request.headers['Content-Type'] ?? '')?.[1];
  if (boundary !== undefined) {
    const edit = rng.pick(['boundary', 'disposition', 'type'] as const);
    if (edit === 'boundary')
      request.headers['Content-Type'] = `multipart/form-data; boundary=${boundary.slice(0, rng.int(boundary.length))}`;
    else if (edit === 'disposition')
      request.body = Buffer.from(
        text.replace(
          /Content-Disposition: [^\r]*/,
          rng.pick([
            'Content-Disposition: form-data',
            'Content-Disposition: form-data; name="x"',
            'Content-Disposition: attachment; filename="../../x"',
            '',
          ]),
        ),
        'latin1',
      );
    else
      request.body = Buffer.from(
        text.replace(
          /Content-Type: [^\r]*/,
          rng.pick(['Content-Type: text/plain', 'Content-Type: image/svg+xml', 'Content-Type:']),
        ),
        'latin1',
      );
    return `multipart ${edit}`;
  }
  const applicable = JSON_EDITS.filter(([pattern]) => pattern.test(text));
  if (applicable.length === 0) return undefined;
  const [pattern, replacements] = rng.pick(applicable);
  const replacement = rng.pick(replacements);
  request.body = Buffer.from(text.replace(pattern, replacement), 'latin1');
  return `JSON ${replacement}`;
}

/** Case `index` of run `seed`: a valid body of one kind with 1 to 3 mutations. */
export function makeCase(corpus: Corpus, seed: number, index: number): FuzzCase {
  const rng = new Rng(seed, index);
  const kind = SEED_KINDS[index % SEED_KINDS.length] as SeedKind;
  const valid = corpus[kind];
  const request: { path: string; headers: Record<string, string>; body: Buffer } = {
    path: valid.path,
    headers: { ...valid.headers },
    body: Buffer.from(valid.body),
  };
  const mutations: string[] = [];
  const count = 1 + rng.int(3);
  for (let i = 0; i < count && request.body.length > 0; i++) {
    const choice = rng.int(5);
    if (choice === 0) mutations.push(flipBits(request.body, rng));
    else if (choice === 1) mutations.push(interestingBytes(request.body, rng));
    else if (choice === 2) {
      const reshaped = reshape(request.body, rng, corpus);
      request.body = reshaped.body;
      mutations.push(reshaped.what);
    } else if (choice === 3) mutations.push(editImageSize(request.body, rng) ?? flipBits(request.body, rng));
    else mutations.push(editFields(request, rng) ?? interestingBytes(request.body, rng));
  }
  return { index, kind, mutations, ...request };
}
