// Request bodies for each body kind, built once per run as Buffers: the load generator then only
// writes bytes, so its own CPU cost stays small and equal across runs.
import { randomBytes } from 'node:crypto';

export const BODY_KINDS = ['multipart', 'raw', 'json', 'v2-binary'] as const;
export type BodyKind = (typeof BODY_KINDS)[number];

export interface PreparedRequest {
  readonly method: 'POST';
  /** Path and query, e.g. /predict?topk=5 */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Images the request carries: images/s = 2xx responses x this. */
  readonly images: number;
}

export interface BodyInput {
  readonly image: Uint8Array;
  /** File name in multipart parts. */
  readonly imageName: string;
  readonly imagesPerRequest: number;
  /** V2 model name (path segment). */
  readonly modelName: string;
  /** The preprocessed CHW tensor of `image` (3*224*224 floats); needed for v2-binary only. */
  readonly tensor?: Float32Array;
  readonly topk?: number;
  /** Fixed multipart boundary (tests); default random. */
  readonly boundary?: string;
}

const SIGNATURES: readonly { type: string; test(b: Uint8Array): boolean }[] = [
  { type: 'image/jpeg', test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: 'image/png', test: (b) => ascii(b, 1, 4) === 'PNG' },
  { type: 'image/gif', test: (b) => ascii(b, 0, 4) === 'GIF8' },
  { type: 'image/webp', test: (b) => ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP' },
  { type: 'image/avif', test: (b) => ascii(b, 4, 8) === 'ftyp' && /^avi[fs]$/.test(ascii(b, 8, 12)) },
  { type: 'image/tiff', test: (b) => ['II*\0', 'MM\0*'].includes(ascii(b, 0, 4)) },
];

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.subarray(start, end)).toString('latin1');
}

/** The media type of an image from its first bytes; application/octet-stream when unknown. */
export function sniffImageType(bytes: Uint8Array): string {
  return SIGNATURES.find((s) => s.test(bytes))?.type ?? 'application/octet-stream';
}

export function buildRequest(kind: BodyKind, input: BodyInput): PreparedRequest {
  const topk = input.topk ?? 5;
  switch (kind) {
    case 'multipart':
      return multipartRequest(input, topk);
    case 'raw':
      return rawRequest(input, topk);
    case 'json':
      return jsonRequest(input, topk);
    case 'v2-binary':
      return v2BinaryRequest(input, topk);
  }
}

function multipartRequest(input: BodyInput, topk: number): PreparedRequest {
  const boundary = input.boundary ?? `----resnet-serve-load-${randomBytes(12).toString('hex')}`;
  const type = sniffImageType(input.image);
  const parts: Buffer[] = [];
  for (let i = 0; i < input.imagesPerRequest; i++) {
    const name = input.imagesPerRequest === 1 ? input.imageName : `${i}-${input.imageName}`;
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n`,
      ),
      Buffer.from(input.image),
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return post(
    `/predict?topk=${topk}`,
    `multipart/form-data; boundary=${boundary}`,
    Buffer.concat(parts),
    input.imagesPerRequest,
  );
}

function rawRequest(input: BodyInput, topk: number): PreparedRequest {
  if (input.imagesPerRequest !== 1) throw new RangeError('A raw body carries exactly one image');
  return post(`/predict?topk=${topk}`, sniffImageType(input.image), Buffer.from(input.image), 1);
}

function jsonRequest(input: BodyInput, topk: number): PreparedRequest {
  const b64 = Buffer.from(input.image).toString('base64');
  const images = Array.from({ length: input.imagesPerRequest }, () => b64);
  return post(
    `/predict?topk=${topk}`,
    'application/json',
    Buffer.from(JSON.stringify({ images })),
    input.imagesPerRequest,
  );
}

/** KServe V2 binary tensor extension: JSON header, then the raw little-endian FP32 input. */
function v2BinaryRequest(input: BodyInput, topk: number): PreparedRequest {
  const tensor = input.tensor;
  if (tensor === undefined) throw new TypeError('A v2-binary body needs the preprocessed tensor');
  const n = input.imagesPerRequest;
  const perImage = tensor.length;
  const side = Math.round(Math.sqrt(perImage / 3));
  if (3 * side * side !== perImage) throw new RangeError(`Expected a 3xSxS tensor, got ${perImage} floats`);
  const data = Buffer.alloc(n * perImage * 4);
  const bytes = Buffer.from(tensor.buffer, tensor.byteOffset, tensor.byteLength);
  for (let i = 0; i < n; i++) writeLittleEndianFloats(tensor, bytes, data, i * perImage * 4);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'input', shape: [n, 3, side, side], datatype: 'FP32', parameters: { binary_data_size: data.length } },
      ],
      outputs: [{ name: 'probabilities', parameters: { classification: topk } }],
    }),
  );
  const req = post(
    `/v2/models/${encodeURIComponent(input.modelName)}/infer`,
    'application/octet-stream',
    Buffer.concat([header, data]),
    n,
  );
  return { ...req, headers: { ...req.headers, 'Inference-Header-Content-Length': String(header.length) } };
}

function writeLittleEndianFloats(tensor: Float32Array, bytes: Buffer, out: Buffer, offset: number): void {
  if (isLittleEndianHost) {
    bytes.copy(out, offset);
    return;
  }
  for (let j = 0; j < tensor.length; j++) out.writeFloatLE(tensor[j] ?? 0, offset + 4 * j);
}

const isLittleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function post(path: string, contentType: string, body: Buffer, images: number): PreparedRequest {
  return { method: 'POST', path, headers: { 'Content-Type': contentType }, body, images };
}
