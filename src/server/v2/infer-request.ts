// Parses a V2 REST inference request: the JSON object ($inference_request), optionally followed by
// binary tensor data whose JSON length is in the Inference-Header-Content-Length header. What is
// accepted and how it is checked is infer-input.ts (shared with gRPC); here is where REST keeps
// the data: binary elements, JSON numbers, or base64 strings for BYTES.
import { errors } from '../../errors.ts';
import type { ModelManifest } from '../../model/manifest.ts';
import { decodeBase64Image } from '../routes/predict-bodies.ts';
import {
  ONE_INPUT,
  allOutputs,
  outputRequest,
  parseInput,
  type InferInput,
  type Limits,
  type OutputRequest,
  type TensorData,
} from './infer-input.ts';
import { flattenNumbers, readBytesElements, readFloat32 } from './tensor-data.ts';

export type { InferInput, Limits, OutputRequest };

type Parameters = Readonly<Record<string, unknown>>;

export interface InferRequest {
  readonly id?: string;
  readonly input: InferInput;
  readonly outputs: readonly OutputRequest[];
  /** Triton's `timeout` request parameter, in microseconds. */
  readonly timeoutUs?: number;
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
    const jsonLength = headerLength === undefined ? leadingObjectLength(body) : undefined;
    if (jsonLength !== undefined) {
      throw errors.INVALID_JSON(
        `the inference request is a JSON object followed by other bytes (binary tensor data?): without the Inference-Header-Content-Length header the whole body must be JSON; send that header with the JSON's length, here ${jsonLength}`,
      );
    }
    throw errors.INVALID_JSON('the inference request is not a JSON object');
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = 0x7b;
const CLOSE = 0x7d;

/** How far the hint looks for the JSON's end: a request's JSON part is small, its tensors are not. */
const HINT_SCAN_BYTES = 1024 * 1024;

/** The length of the JSON object that `body` starts with, when one does and more bytes follow it. */
function leadingObjectLength(body: Buffer): number | undefined {
  if (body[0] !== OPEN) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < Math.min(body.length, HINT_SCAN_BYTES); i++) {
    const byte = body[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === OPEN) depth++;
    else if (byte === CLOSE && --depth === 0) {
      const length = i + 1;
      if (length === body.length) return undefined;
      try {
        JSON.parse(body.subarray(0, length).toString('utf8'));
        return length;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
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

/** The REST input's data: its binary section when it has binary_data_size, else its JSON `data`. */
function restTensorData(input: Record<string, unknown>, cursor: BinaryCursor, limits: Limits): TensorData {
  const name = String(input['name']);
  const binary = () => cursor.take(input['parameters'] as Parameters | undefined, name);
  return {
    float32(count) {
      const bytes = binary();
      if (bytes !== undefined) return readFloat32(bytes, count, name);
      const data = new Float32Array(count);
      flattenNumbers(input['data'], input['shape'] as number[], data, name);
      return data;
    },
    bytesElements(count) {
      const bytes = binary();
      if (bytes !== undefined) return readBytesElements(bytes, count, name);
      const data = input['data'];
      const flat = Array.isArray(data) ? data.flat() : data;
      if (!Array.isArray(flat) || flat.length !== count || !flat.every((e) => typeof e === 'string')) {
        throw errors.INVALID_TENSOR(`BYTES input "${name}" data must be ${count} base64 strings`);
      }
      return flat.map((text: string, i) => decodeBase64Image(text, i, limits.maxImageBytes));
    },
  };
}

function outputRequests(request: Record<string, unknown>, manifest: ModelManifest): OutputRequest[] {
  const parameters = isObject(request['parameters']) ? request['parameters'] : {};
  const binaryDefault = parameters['binary_data_output'] === true;
  const requested = request['outputs'];
  if (requested === undefined) return allOutputs(manifest, binaryDefault);
  if (!Array.isArray(requested)) throw errors.INVALID_PARAMETER('"outputs" must be an array');
  return requested.map((output: unknown) => {
    const { name, parameters: params } = isObject(output) ? output : {};
    const { classification, binary_data: binary } = isObject(params) ? params : {};
    return outputRequest(name, classification, typeof binary === 'boolean' ? binary : binaryDefault, manifest);
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
    throw errors.INVALID_TENSOR(ONE_INPUT);
  }
  const input = inputs[0] as Record<string, unknown> & { name: string };
  const cursor = new BinaryCursor(binary);
  const parsed = parseInput(
    { name: input.name, datatype: input['datatype'], shape: input['shape'] },
    restTensorData(input, cursor, limits),
    manifest,
    limits,
  );
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
