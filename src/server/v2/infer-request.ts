// Parses a V2 inference request: the JSON object ($inference_request), optionally followed by
// binary tensor data whose JSON length is in the Inference-Header-Content-Length header. One input
// is accepted: the model's FP32 `input` [N,3,224,224], or a BYTES tensor [N] (or [N,1]) of encoded
// images that the server preprocesses (binary elements, or base64 strings in JSON).
import { errors } from '../../errors.ts';
import type { ModelManifest } from '../../model/manifest.ts';
import type { NamedImage } from '../classifier/classifier.ts';
import { decodeBase64Image } from '../routes/predict-bodies.ts';
import { elementCount, flattenNumbers, readBytesElements, readFloat32 } from './tensor-data.ts';

type Parameters = Readonly<Record<string, unknown>>;

export interface OutputRequest {
  readonly name: string;
  readonly binary: boolean;
  /** Top-k as "score:index:label" strings instead of the raw tensor (Triton's classification extension). */
  readonly classification?: number;
}

export type InferInput =
  | { readonly kind: 'tensor'; readonly rows: number; readonly data: Float32Array; readonly rowLength: number }
  | { readonly kind: 'images'; readonly images: readonly NamedImage[] };

export interface InferRequest {
  readonly id?: string;
  readonly input: InferInput;
  readonly outputs: readonly OutputRequest[];
  /** Triton's `timeout` request parameter, in microseconds. */
  readonly timeoutUs?: number;
}

export interface Limits {
  readonly maxImagesPerRequest: number;
  readonly maxImageBytes: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Splits the body into the JSON object and the binary section after it. */
export function splitBody(
  body: Buffer,
  headerLength: string | string[] | undefined,
): { json: unknown; binary: Buffer } {
  let jsonBytes: Buffer = body;
  let binary: Buffer = Buffer.alloc(0);
  if (headerLength !== undefined) {
    const length = Number(headerLength);
    if (typeof headerLength !== 'string' || !/^\d+$/.test(headerLength) || length > body.length) {
      throw errors.MALFORMED_BODY(
        `Inference-Header-Content-Length must be an integer from 0 to the body size (${body.length})`,
      );
    }
    jsonBytes = body.subarray(0, length);
    binary = body.subarray(length);
  }
  try {
    return { json: JSON.parse(jsonBytes.toString('utf8')), binary };
  } catch {
    throw errors.INVALID_JSON('the inference request is not a JSON object');
  }
}

function readShape(input: Record<string, unknown>, name: string): number[] {
  const { shape } = input;
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw errors.INVALID_TENSOR(`"${name}" shape must be a non-empty array of non-negative integers`);
  }
  return shape as number[];
}

/** Hands out the binary section tensor by tensor, in input order. */
class BinaryCursor {
  #offset = 0;
  constructor(readonly bytes: Buffer) {}
  take(parameters: Parameters | undefined, name: string): Buffer | undefined {
    const size = parameters?.['binary_data_size'];
    if (size === undefined) return undefined;
    if (!Number.isSafeInteger(size) || (size as number) < 0 || this.#offset + (size as number) > this.bytes.length) {
      throw errors.MALFORMED_BODY(`"${name}" binary_data_size does not fit the binary data after the JSON`);
    }
    const slice = this.bytes.subarray(this.#offset, this.#offset + (size as number));
    this.#offset += size as number;
    return slice;
  }
  assertConsumed(): void {
    if (this.#offset !== this.bytes.length)
      throw errors.MALFORMED_BODY(`${this.bytes.length - this.#offset} bytes after the last tensor`);
  }
}

function checkRows(rows: number, limits: Limits): void {
  if (rows < 1) throw errors.NO_IMAGES();
  if (rows > limits.maxImagesPerRequest) throw errors.TOO_MANY_IMAGES(String(limits.maxImagesPerRequest));
}

function tensorInput(
  input: Record<string, unknown>,
  manifest: ModelManifest,
  cursor: BinaryCursor,
  limits: Limits,
): InferInput {
  const spec = manifest.inputs[0];
  const name = String(input['name']);
  if (spec === undefined || name !== spec.name)
    throw errors.INVALID_TENSOR(`unknown FP32 input "${name}"; the model's input is "${spec?.name}"`);
  const shape = readShape(input, name);
  const expected = spec.shape.slice(1);
  if (shape.length !== spec.shape.length || expected.some((dim, i) => dim !== shape[i + 1])) {
    throw errors.INVALID_TENSOR(`"${name}" shape [${shape.join(',')}] must be [N,${expected.join(',')}]`);
  }
  const rows = shape[0] as number;
  checkRows(rows, limits);
  const count = elementCount(shape);
  const binary = cursor.take(input['parameters'] as Parameters | undefined, name);
  let data: Float32Array;
  if (binary !== undefined) data = readFloat32(binary, count, name);
  else {
    data = new Float32Array(count);
    flattenNumbers(input['data'], shape, data, name);
  }
  return { kind: 'tensor', rows, data, rowLength: count / rows };
}

function imagesInput(input: Record<string, unknown>, cursor: BinaryCursor, limits: Limits): InferInput {
  const name = String(input['name']);
  const shape = readShape(input, name);
  if (shape.length > 2 || (shape.length === 2 && shape[1] !== 1))
    throw errors.INVALID_TENSOR(`BYTES input "${name}" shape must be [N] or [N,1]`);
  const rows = shape[0] as number;
  checkRows(rows, limits);
  const binary = cursor.take(input['parameters'] as Parameters | undefined, name);
  let elements: Uint8Array[];
  if (binary !== undefined) elements = readBytesElements(binary, rows, name);
  else {
    const data = input['data'];
    const flat = Array.isArray(data) ? data.flat() : data;
    if (!Array.isArray(flat) || flat.length !== rows || !flat.every((e) => typeof e === 'string')) {
      throw errors.INVALID_TENSOR(`BYTES input "${name}" data must be ${rows} base64 strings`);
    }
    elements = flat.map((text: string, i) => decodeBase64Image(text, i, limits.maxImageBytes));
  }
  return { kind: 'images', images: elements.map((bytes, i) => ({ name: String(i), bytes })) };
}

function outputRequests(request: Record<string, unknown>, manifest: ModelManifest): OutputRequest[] {
  const parameters = isObject(request['parameters']) ? request['parameters'] : {};
  const binaryDefault = parameters['binary_data_output'] === true;
  const known = manifest.outputs.map((o) => o.name);
  const requested = request['outputs'] ?? known.map((name) => ({ name }));
  if (!Array.isArray(requested)) throw errors.INVALID_PARAMETER('"outputs" must be an array');
  return requested.map((output: unknown) => {
    if (!isObject(output) || !known.includes(String(output['name']))) {
      throw errors.INVALID_TENSOR(
        `unknown output ${isObject(output) ? JSON.stringify(output['name']) : ''}; outputs are ${known.join(', ')}`,
      );
    }
    const params = isObject(output['parameters']) ? output['parameters'] : {};
    const classification = params['classification'];
    const classes = manifest.labels.length;
    if (
      classification !== undefined &&
      (!Number.isSafeInteger(classification) || (classification as number) < 1 || (classification as number) > classes)
    ) {
      throw errors.INVALID_PARAMETER(`classification must be an integer from 1 to ${classes}`);
    }
    const binary = typeof params['binary_data'] === 'boolean' ? params['binary_data'] : binaryDefault;
    return {
      name: String(output['name']),
      binary,
      ...(classification === undefined ? {} : { classification: classification as number }),
    };
  });
}

export function parseInferRequest(
  json: unknown,
  binary: Buffer,
  manifest: ModelManifest,
  limits: Limits,
): InferRequest {
  if (!isObject(json)) throw errors.INVALID_JSON('the inference request is not a JSON object');
  const inputs = json['inputs'];
  if (!Array.isArray(inputs) || inputs.length !== 1 || !isObject(inputs[0]) || typeof inputs[0]['name'] !== 'string') {
    throw errors.INVALID_TENSOR(
      '"inputs" must hold exactly one named tensor: FP32 "input" or a BYTES tensor of encoded images',
    );
  }
  const input = inputs[0];
  const cursor = new BinaryCursor(binary);
  let parsed: InferInput;
  if (input['datatype'] === 'FP32') parsed = tensorInput(input, manifest, cursor, limits);
  else if (input['datatype'] === 'BYTES') parsed = imagesInput(input, cursor, limits);
  else throw errors.INVALID_TENSOR(`datatype ${JSON.stringify(input['datatype'])} is not accepted; use FP32 or BYTES`);
  cursor.assertConsumed();
  const id = json['id'];
  const timeout = isObject(json['parameters']) ? json['parameters']['timeout'] : undefined;
  return {
    ...(typeof id === 'string' ? { id } : {}),
    input: parsed,
    outputs: outputRequests(json, manifest),
    ...(Number.isSafeInteger(timeout) && (timeout as number) > 0 ? { timeoutUs: timeout as number } : {}),
  };
}
